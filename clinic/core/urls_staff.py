"""A clinic manager's staff pages, and the invitation link (/staff/join/<token>/)."""

from django.urls import path

from . import views_staff as views

app_name = "staff"

urlpatterns = [
    path("", views.staff_home, name="list"),
    path("join/<str:token>/", views.join, name="join"),
    path("<uuid:uuid>/", views.staff_list, name="clinic"),
    path("<uuid:uuid>/invite/", views.invite, name="invite"),
    path(
        "<uuid:uuid>/invitations/<uuid:invitation>/withdraw/",
        views.invitation_withdraw,
        name="invitation_withdraw",
    ),
    path("<uuid:uuid>/people/<uuid:user>/", views.member, name="member"),
    path("<uuid:uuid>/people/<uuid:user>/roles/", views.member_roles, name="member_roles"),
    path(
        "<uuid:uuid>/people/<uuid:user>/deactivate/",
        views.member_deactivate,
        name="member_deactivate",
    ),
    path(
        "<uuid:uuid>/people/<uuid:user>/reactivate/",
        views.member_reactivate,
        name="member_reactivate",
    ),
    path(
        "<uuid:uuid>/people/<uuid:user>/reset-second-factor/",
        views.member_reset_second_factor,
        name="member_reset_second_factor",
    ),
]
