"""URL map. Patient-facing pages never carry patient data in the URL."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from adverse_events.urls import photo_urlpatterns
from clinic.api.urls import schema_urlpatterns
from patients import urls as patients_urls
from treatments import urls as treatments_urls

from . import views, views_booking, views_charts, views_ops, views_patients

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard", permanent=False), name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/live/", views.dashboard_live, name="dashboard-live"),
    path("charts/", views_charts.charts, name="charts"),
    path("health/delivery/", views.delivery_health_view, name="delivery-health"),
    # Probes and the metrics scrape (no login; docs/operations.md).
    path("healthz/live", views_ops.healthz_live, name="healthz-live"),
    path("healthz/ready", views_ops.healthz_ready, name="healthz-ready"),
    path("metrics", views_ops.metrics, name="metrics"),
    path("accounts/", include("clinic.core.urls")),
    path("staff/", include("clinic.core.urls_staff")),
    path("clinic-settings/", include("clinic.core.urls_settings")),
    path("admin/", admin.site.urls),
    path("", include("clinic.urls_sessions")),
    # The treatments pages and the two booking pages that run a workflow (clinic/views_booking.py)
    path(
        "",
        include((treatments_urls.urlpatterns + views_booking.urlpatterns, "treatments")),
    ),
    # The patients pages and the patient list and search (clinic/views_patients.py), which
    # reads sessions and reactions too
    path(
        "patients/", include((views_patients.urlpatterns + patients_urls.urlpatterns, "patients"))
    ),
    path("hooks/", include("patients.webhooks")),
    path("r/", include("adverse_events.urls")),
    path("photos/", include(photo_urlpatterns)),
    path("api/v1/", include("clinic.api.urls", namespace="api")),
    path("api/", include(schema_urlpatterns)),
    path("", include("clinic.urls_triage")),
    path("safety/", include("clinic.urls_safety")),
]
