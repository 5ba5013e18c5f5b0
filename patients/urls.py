from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("", views.search, name="search"),
    path("new/", views.register, name="register"),
    path("calls/", views.calls, name="calls"),
    path("calls/<uuid:uuid>/done/", views.call_done, name="call_done"),
    path("<uuid:uuid>/", views.detail, name="detail"),
    path("<uuid:uuid>/edit/", views.edit, name="edit"),
    path("<uuid:uuid>/screening/edit/", views.screening_edit, name="screening_edit"),
]
