"""Staff login (password + TOTP) and the liveness probe."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django_otp.forms import OTPAuthenticationForm


class StaffLoginView(auth_views.LoginView):
    """One form: username, password and the six-digit code from the authenticator app."""

    form_class = OTPAuthenticationForm
    template_name = "core/login.html"
    redirect_authenticated_user = True


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker healthchecks: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
