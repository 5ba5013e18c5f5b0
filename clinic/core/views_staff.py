"""A clinic manager's staff pages: the staff list with the audit, invitations, roles,
deactivation and the second-factor reset; and the page where an invitee joins.

Every page first finds the clinic with `visible_or_404(Clinic, ..., roles=MANAGER_ONLY)`, so
a manager acts only at the clinics they manage. Irreversible steps (deactivate, reset the
second factor) have a confirmation page; their POST needs its explicit "yes".
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .access import staff_required, visible, visible_or_404
from .exceptions import RuleViolation
from .forms import ConfirmForm, InvitationForm, JoinForm, RolesForm
from .models import MANAGER_ONLY, Clinic, Invitation, Role, StaffAction

manager = staff_required(roles=MANAGER_ONLY)


def _clinic(request: HttpRequest, uuid: Any) -> Clinic:
    return visible_or_404(Clinic, request, uuid, roles=MANAGER_ONLY)


def _member_url(clinic: Clinic, member: Any) -> str:
    return reverse("staff:member", args=[clinic.uuid, member.uuid])


def _render(request: HttpRequest, clinic: Clinic, template: str, context: dict, status: int = 200):
    # Times (last login, the audit) on the clinic's wall clock.
    with clinic.activate():
        return render(request, template, {"clinic": clinic, **context}, status=status)


@manager
def staff_home(request: HttpRequest) -> HttpResponse:
    """The staff list of the first clinic the user manages (the others are a click away)."""
    clinic = visible(Clinic, request, roles=MANAGER_ONLY).order_by("name").first()
    return _staff_list(request, clinic)


@manager
def staff_list(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _staff_list(request, _clinic(request, uuid))


def _staff_list(request: HttpRequest, clinic: Clinic) -> HttpResponse:
    page = selectors.staff_page(clinic=clinic, after=request.GET.get("after"))
    return _render(
        request,
        clinic,
        "core/staff_list.html",
        {
            "page": page,
            "invitations": selectors.invitations_open(clinic=clinic),
            "audit": selectors.staff_audit(clinic=clinic),
            "managed": visible(Clinic, request, roles=MANAGER_ONLY).order_by("name"),
        },
    )


@manager
@require_http_methods(["GET", "POST"])
def invite(request: HttpRequest, uuid: Any) -> HttpResponse:
    clinic = _clinic(request, uuid)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, token = services.invitation_create(
                clinic=clinic, invited_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            link = request.build_absolute_uri(reverse("staff:join", args=[token]))
            services.invitation_send(invitation=invitation, token=token, link=link)
            messages.success(
                request,
                _("Invitation sent to %(email)s. The link works once, for 72 hours.")
                % {"email": invitation.email},
            )
            return HttpResponseRedirect(reverse("staff:clinic", args=[clinic.uuid]))
    status = 400 if request.method == "POST" else 200
    return _render(request, clinic, "core/staff_invite.html", {"form": form}, status)


@manager
@require_POST
def invitation_withdraw(request: HttpRequest, uuid: Any, invitation: Any) -> HttpResponse:
    clinic = _clinic(request, uuid)
    row = visible_or_404(
        Invitation.objects.filter(clinic=clinic), request, invitation, roles=MANAGER_ONLY
    )
    if not ConfirmForm(request.POST).is_valid():
        return HttpResponse(_("Confirm this step on its confirmation page."), status=400)
    services.invitation_withdraw(invitation=row, actor=request.user)
    messages.success(request, _("Invitation withdrawn: its link no longer works."))
    return HttpResponseRedirect(reverse("staff:clinic", args=[clinic.uuid]))


def _member_page(
    request: HttpRequest, clinic: Clinic, member: Any, *, roles_form: Any = None, status: int = 200
) -> HttpResponse:
    held = [m.role for m in member.roles_here]
    return _render(
        request,
        clinic,
        "core/staff_member.html",
        {
            "member": member,
            "roles_form": roles_form or RolesForm(initial={"roles": held}),
            "role_labels": [Role(r).label for r in held],
            "audit": selectors.staff_audit(clinic=clinic, subject=member),
            "is_self": member.pk == request.user.pk,
        },
        status=status,
    )


@manager
def member(request: HttpRequest, uuid: Any, user: Any) -> HttpResponse:
    clinic = _clinic(request, uuid)
    return _member_page(
        request, clinic, selectors.staff_member_or_404(clinic=clinic, user_uuid=user)
    )


@manager
@require_POST
def member_roles(request: HttpRequest, uuid: Any, user: Any) -> HttpResponse:
    clinic = _clinic(request, uuid)
    target = selectors.staff_member_or_404(clinic=clinic, user_uuid=user)
    form = RolesForm(request.POST)
    if form.is_valid():
        try:
            services.staff_roles_set(
                clinic=clinic, user=target, roles=form.cleaned_data["roles"], actor=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("Roles saved. They apply from %(name)s's next click.")
                % {"name": target.display_name},
            )
            return HttpResponseRedirect(_member_url(clinic, target))
    return _member_page(request, clinic, target, roles_form=form, status=400)


# The irreversible steps: GET asks, POST (with confirm=yes) does it.
STEPS = {
    "deactivate": (
        services.staff_deactivate,
        StaffAction.DEACTIVATED,
        gettext_lazy("Deactivated: their sessions and API tokens have ended."),
    ),
    "reactivate": (
        services.staff_reactivate,
        StaffAction.REACTIVATED,
        gettext_lazy("Reactivated."),
    ),
    "reset-second-factor": (
        services.staff_second_factor_reset,
        StaffAction.SECOND_FACTOR_RESET,
        gettext_lazy(
            "Second factor reset: they set up their authenticator app again at their next login."
        ),
    ),
}


def _step(request: HttpRequest, uuid: Any, user: Any, step: str) -> HttpResponse:
    clinic = _clinic(request, uuid)
    target = selectors.staff_member_or_404(clinic=clinic, user_uuid=user)
    service, action, done = STEPS[step]
    form = ConfirmForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                service(clinic=clinic, user=target, actor=request.user)
            except (ValidationError, RuleViolation) as error:
                form.add_error(None, getattr(error, "message", None) or error.messages)
            else:
                messages.success(request, done)
                return HttpResponseRedirect(_member_url(clinic, target))
        status = 400
    return _render(
        request,
        clinic,
        "core/staff_confirm.html",
        {"member": target, "form": form, "step": step, "action": action},
        status,
    )


@manager
@require_http_methods(["GET", "POST"])
def member_deactivate(request: HttpRequest, uuid: Any, user: Any) -> HttpResponse:
    return _step(request, uuid, user, "deactivate")


@manager
@require_POST
def member_reactivate(request: HttpRequest, uuid: Any, user: Any) -> HttpResponse:
    return _step(request, uuid, user, "reactivate")


@manager
@require_http_methods(["GET", "POST"])
def member_reset_second_factor(request: HttpRequest, uuid: Any, user: Any) -> HttpResponse:
    return _step(request, uuid, user, "reset-second-factor")


# --- the invitee's side ------------------------------------------------------------------


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: choose a username and password, then set up the authenticator.

    A used, expired, withdrawn or unknown link gets a page that says which, and whom to ask.
    """
    invitation = services.invitation_for_token(token)
    problem = _link_problem(invitation)
    if problem:
        return render(request, "core/staff_join_invalid.html", {"problem": problem}, status=410)
    form = JoinForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            new_user = services.invitation_accept(
                invitation=invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        except RuleViolation:
            return render(request, "core/staff_join_invalid.html", {"problem": "used"}, status=410)
        else:
            if request.user.is_authenticated:
                logout(request)
            # Password only: every page now sends them to set up the authenticator app first.
            login(request, new_user, backend="django.contrib.auth.backends.ModelBackend")
            return HttpResponseRedirect(reverse("core:enrollment"))
    status = 400 if request.method == "POST" else 200
    return render(
        request, "core/staff_join.html", {"form": form, "invitation": invitation}, status=status
    )


def _link_problem(invitation: Invitation | None) -> str:
    if invitation is None or invitation.revoked_at is not None:
        return "invalid"
    if invitation.accepted_at is not None:
        return "used"
    if invitation.expires_at <= timezone.now():
        return "expired"
    return ""
