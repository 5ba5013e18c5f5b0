"""Dashboard actions and triage pages (namespace `triage`). Only public UUIDs in paths; the
reactions filters carry no patient data, so they may travel in the query string."""

from django.urls import path

from . import views_triage as views

app_name = "triage"

urlpatterns = [
    path("alarms/<uuid:uuid>/acknowledge/", views.acknowledge, name="alarm_acknowledge"),
    path("reactions/", views.reactions, name="reactions"),
    path("reactions/export.csv", views.reactions_csv, name="reactions_csv"),
    path("reactions/<uuid:uuid>/", views.triage, name="report"),
    path("reactions/<uuid:uuid>/medwatch/", views.medwatch, name="medwatch"),
]
