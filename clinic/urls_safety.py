"""The safety lead's lot pages (namespace `safety`). Only public UUIDs in paths."""

from django.urls import path

from . import views_safety as views

app_name = "safety"

urlpatterns = [
    path("lots/", views.lots, name="lots"),
    path("lots/<uuid:uuid>/", views.lot, name="lot"),
    path("signals/<uuid:uuid>/review/", views.review, name="signal_review"),
]
