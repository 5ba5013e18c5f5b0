"""The clinical pages of the top floor (namespace `clinical`). Only public UUIDs in paths."""

from django.urls import path

from . import views_sessions as views

app_name = "clinical"

urlpatterns = [
    path("patients/<uuid:uuid>/chart/", views.chart, name="chart"),
    path("patients/<uuid:uuid>/sessions/new/", views.session_new, name="session_new"),
    path(
        "patients/<uuid:uuid>/sessions/screening/",
        views.screening_panel,
        name="screening",
    ),
    path(
        "appointments/<uuid:uuid>/session/new/",
        views.session_new_from_appointment,
        name="session_new_from_appointment",
    ),
    path("sessions/<uuid:uuid>/", views.session_detail, name="session"),
    path("sessions/<uuid:uuid>/edit/", views.session_edit, name="session_edit"),
    path("sessions/<uuid:uuid>/sign/", views.session_sign_view, name="session_sign"),
    path("sessions/<uuid:uuid>/addenda/", views.session_addendum, name="session_addendum"),
    path(
        "sessions/<uuid:uuid>/entered-in-error/",
        views.session_entered_in_error,
        name="session_entered_in_error",
    ),
    path(
        "sessions/<uuid:uuid>/clear-hold/",
        views.session_clear_hold,
        name="session_clear_hold",
    ),
    path("sessions/<uuid:uuid>/aftercare/", views.session_aftercare, name="aftercare"),
]
