"""Patient pages under /r/ (namespace "report") and the staff photo view (namespace "photos").

`urlpatterns` is mounted at "r/": the token appears only in `/r/<token>/`, which swaps it for
a session and redirects to `/r/`. `photo_urlpatterns` is mounted at "photos/" for staff.
"""

from django.urls import path

from . import views, views_recall

app_name = "report"

urlpatterns = [
    path("", views.start, name="start"),
    path("fine/", views.all_fine, name="fine"),
    path("report/", views.report, name="report"),
    path("thanks/", views.thanks, name="thanks"),
    path("urgent/", views.urgent, name="urgent"),
    path("photo/", views.add_photo, name="photo"),
    path("language/", views.language, name="language"),
    path("recall/", views_recall.notice, name="recall"),
    path("recall/read/", views_recall.acknowledge, name="recall_read"),
    # Last: a token is any URL-safe text, and must not shadow the pages above.
    path("<str:token>/", views.entry, name="entry"),
]

photo_urlpatterns = (
    [path("<uuid:uuid>/", views.photo, name="show")],
    "photos",
)
