from django.urls import path

from . import views, views_account

app_name = "core"

urlpatterns = [
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("logout/", views.StaffLogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("two-factor/setup/", views.enrollment, name="enrollment"),
    path("healthz/", views.healthz, name="healthz"),
    # Self-service: password, recovery codes, a new authenticator app (views_account.py).
    path("password/", views_account.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views_account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        views_account.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views_account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        views_account.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("clinic/", views_account.active_clinic_choose, name="active_clinic"),
    path("two-factor/recovery-codes/", views_account.recovery_codes, name="recovery_codes"),
    path("two-factor/replace/", views_account.reenroll, name="reenroll"),
    path(
        "two-factor/replace/confirm/",
        views_account.reenroll_confirm,
        name="reenroll_confirm",
    ),
]
