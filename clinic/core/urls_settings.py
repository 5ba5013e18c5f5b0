"""A clinic's settings pages (/clinic-settings/)."""

from django.urls import path

from . import views_settings as views

app_name = "settings"

urlpatterns = [
    path("", views.settings_home, name="home"),
    path("<uuid:uuid>/", views.basics, name="basics"),
    path("<uuid:uuid>/hours/", views.hours, name="hours"),
    path(
        "<uuid:uuid>/closures/<uuid:closure>/remove/",
        views.closure_remove,
        name="closure_remove",
    ),
    path("<uuid:uuid>/checkins/", views.checkins, name="checkins"),
    path("<uuid:uuid>/checkins/steps/<uuid:step>/", views.step_edit, name="step"),
    path("<uuid:uuid>/checkins/steps/<uuid:step>/remove/", views.step_remove, name="step_remove"),
]
