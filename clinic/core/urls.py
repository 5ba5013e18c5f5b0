from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("logout/", views.StaffLogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("two-factor/setup/", views.enrollment, name="enrollment"),
    path("healthz/", views.healthz, name="healthz"),
]
