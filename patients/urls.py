from django.urls import path

from . import views

app_name = "patients"

# The list and search (`patients:search`, "/patients/") is a top-floor page
# (clinic/views_patients.py): clinic/urls.py adds it to this namespace.

urlpatterns = [
    path("new/", views.register, name="register"),
    path("calls/", views.calls, name="calls"),
    path("calls/<uuid:uuid>/done/", views.call_done, name="call_done"),
    path("<uuid:uuid>/", views.detail, name="detail"),
    path("<uuid:uuid>/edit/", views.edit, name="edit"),
    path("<uuid:uuid>/screening/edit/", views.screening_edit, name="screening_edit"),
]
