"""Who may open a staff page or call the API, and which rows they see.

Every staff page and endpoint stands on this module, so none can forget a rule:

- `staff_required` for pages: logged in, second factor verified in this session, an active
  membership of one of `roles` (default `PATIENT_ROLES`: staff who work with patients, so a
  manager-only account is refused a page that does not open itself to managers). A user who
  has not enrolled an authenticator app is sent to enrolment; one without a membership gets
  403.
- `visible` / `visible_or_404` for pages (and the selectors behind them): every queryset and
  every object a page reads by its public uuid comes through them, so another clinic's row
  answers 404, never 200, and a role the model does not allow sees nothing. A test refuses a
  view that scopes by hand.
- `ClinicScopedViewSet` for the API: `get_queryset()` applies the same rule.
- `IsVerifiedStaff`: the DRF permission behind the API bases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import permissions, viewsets
from rest_framework.request import Request

from .logcontext import bind_clinic, bind_user
from .models import PATIENT_ROLES, Membership
from .otp import has_confirmed_device

Roles = Iterable[str] | None


def is_verified(user: Any) -> bool:
    """Logged in with both factors in this session (django-otp's OTPMiddleware sets this)."""
    return bool(user and user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def has_membership(user: Any, roles: Roles = None) -> bool:
    """An active membership of one of `roles` (default: a role that works with patients)."""
    return Membership.clinic_ids_for(user, PATIENT_ROLES if roles is None else roles).exists()


def held_memberships(user: Any) -> QuerySet[Membership]:
    """The user's own active memberships (their clinics and roles), for their profile page."""
    return (
        Membership.objects.active()
        .filter(user=user)
        .select_related("clinic")
        .order_by("clinic__name", "role")
    )


@dataclass(frozen=True)
class HeldClinic:
    """A clinic where the user holds an active membership: what the header's picker needs."""

    id: int
    uuid: Any
    name: str
    time_zone: str


def _held_rows(request: HttpRequest) -> list[tuple[str, int, Any, str, str]]:
    """(role, clinic id, uuid, name, time zone) of the user's active memberships: one
    query per request, shared by the page guard, the navigation and the active clinic."""
    cached = getattr(request, "_held_rows", None)
    if cached is None:
        user = request.user
        cached = (
            list(
                Membership.objects.active()
                .filter(user=user)
                .order_by("clinic__name", "clinic_id")
                .values_list(
                    "role", "clinic_id", "clinic__uuid", "clinic__name", "clinic__time_zone"
                )
            )
            if user.is_authenticated
            else []
        )
        request._held_rows = cached  # type: ignore[attr-defined]
    return cached


def held_roles(request: HttpRequest) -> frozenset[str]:
    """The roles the user holds at any clinic (active memberships), read once per request.

    The page guard and the navigation share it, so showing only the links a role may open
    costs no extra query. Cached on the request only, never across requests, so a role a
    manager adds or removes applies on the user's next request.
    """
    return frozenset(role for role, *_ in _held_rows(request))


def held_clinics(request: HttpRequest, roles: Roles = None) -> list[HeldClinic]:
    """The clinics where the user holds an active membership (of one of `roles`), by name
    (no extra query)."""
    seen: dict[int, HeldClinic] = {}
    for role, clinic_id, uuid, name, zone in _held_rows(request):
        if roles is None or role in roles:
            seen.setdefault(clinic_id, HeldClinic(clinic_id, uuid, name, zone))
    return list(seen.values())


# The clinic a user of several clinics picked in the header (its uuid, in the session).
SESSION_ACTIVE_CLINIC = "active_clinic"


def active_clinic(request: HttpRequest) -> HeldClinic | None:
    """The clinic the user works in now: the one picked in the header while they still hold
    an active membership there, else their first clinic by name; None without a clinic."""
    clinics = held_clinics(request)
    chosen = request.session.get(SESSION_ACTIVE_CLINIC) if hasattr(request, "session") else None
    for clinic in clinics:
        if str(clinic.uuid) == chosen:
            return clinic
    return clinics[0] if clinics else None


def in_active_clinic(queryset: QuerySet, request: HttpRequest) -> QuerySet:
    """The default filter of a list or dashboard panel: only the active clinic's rows.

    A no-op for a user of one clinic (everything visible is that clinic's already) and for
    shared reference data. Apply it after `visible(...)`, never instead of it: it narrows,
    it does not scope.
    """
    path = getattr(queryset.model, "clinic_path", "clinic")
    if path is None or len(held_clinics(request)) < 2:
        return queryset
    clinic = active_clinic(request)
    if clinic is None:
        return queryset.none()
    return queryset.filter(**{path or "pk": clinic.id})


def staff_denial(request: HttpRequest, roles: Roles = None) -> HttpResponse | None:
    """The response that refuses `request`, or None when it may go on to the view."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_verified(user):
        if has_confirmed_device(user):
            # Enrolled in another session after this one logged in: log in again with a code.
            return redirect_to_login(request.get_full_path())
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse('core:enrollment')}?{query}")
    held = held_roles(request)
    if not held or (roles is not None and not held & frozenset(roles)):
        raise PermissionDenied("Your account has no role at a clinic that allows this page.")
    return None


def staff_required(view: Callable[..., HttpResponse] | None = None, *, roles: Roles = None) -> Any:
    """Decorate a page view: `@staff_required` or `@staff_required(roles=SAFETY_LEAD_ONLY)`.

    Without `roles`, staff who work with patients (`PATIENT_ROLES`); a page every staff member
    may open (the dashboard) says `roles=ALL_ROLES`.
    """
    frozen = frozenset(roles) if roles is not None else PATIENT_ROLES

    def decorator(view_func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            denial = staff_denial(request, frozen)
            if denial is not None:
                return denial
            return view_func(request, *args, **kwargs)

        wrapper.staff_roles = frozen  # type: ignore[attr-defined]  # for introspection
        return wrapper

    return decorator(view) if view is not None else decorator


def scoped(queryset: QuerySet, user: Any, roles: Roles) -> QuerySet:
    """`queryset.visible_to(user, roles)`, with `roles` narrowed to the model's `read_roles`.

    The rule under `visible` and the API bases; pages call `visible` / `visible_or_404`."""
    if not hasattr(queryset, "visible_to"):
        raise ImproperlyConfigured(
            f"{queryset.model.__name__}'s manager is not a ScopedQuerySet: it cannot be "
            "scoped to the user's clinics."
        )
    model_roles = getattr(queryset.model, "read_roles", None)
    if roles is not None and model_roles is not None:
        # A view may narrow who reads a model, never widen it.
        roles = frozenset(roles) & frozenset(model_roles)
    return queryset.visible_to(user, roles)


def _user_of(who: Any) -> Any:
    return who.user if isinstance(who, HttpRequest | Request) else who


def visible(source: type[Model] | QuerySet, who: Any, *, roles: Roles = None) -> QuerySet:
    """The rows of `source` (a model, or a queryset with its `select_related` and filters) that
    `who` (a request or a user) may read: the clinics where they hold one of `roles` (default:
    the model's `read_roles`; a view may narrow them, never widen them)."""
    queryset = source._default_manager.all() if isinstance(source, type) else source
    return scoped(queryset, _user_of(who), roles)


def visible_or_404(
    source: type[Model] | QuerySet, who: Any, uuid: Any, *, roles: Roles = None
) -> Any:
    """The one row of `source` with this public `uuid` that `who` may read; else 404 (another
    clinic's row, a role that may not read it, or no such row all look the same)."""
    row = get_object_or_404(visible(source, who, roles=roles), uuid=uuid)
    # The request's log lines now say which clinic it is about (an id, never a name).
    bind_clinic(getattr(row, "clinic_id", None))
    return row


# --- API -----------------------------------------------------------------------------------


def _token_authenticated(request: Any) -> bool:
    """An API token is issued only from a two-factor session, so it counts as verified."""
    from knox.models import AuthToken

    return isinstance(getattr(request, "auth", None), AuthToken)


class IsVerifiedStaff(permissions.BasePermission):
    """Both factors in this session and an active membership (of `view.required_roles`)."""

    message = "Staff with a verified second factor and a clinic role only."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (is_verified(user) or _token_authenticated(request)):
            return False
        roles_for = getattr(view, "get_required_roles", None)
        roles = roles_for() if roles_for else getattr(view, "required_roles", None)
        return has_membership(user, roles)


class ClinicScopedAPIMixin:
    """Scoping and permissions for every API view; subclasses set `queryset` and a serializer.

    `required_roles` narrows who may call it; override `get_required_roles()` to vary by
    action (e.g. front desk may list but not assess).
    """

    permission_classes: ClassVar[list[type[permissions.BasePermission]]] = [IsVerifiedStaff]
    required_roles: ClassVar[frozenset[str] | None] = None
    lookup_field = "uuid"

    def get_required_roles(self) -> frozenset[str] | None:
        return self.required_roles

    def perform_authentication(self, request: Request) -> None:
        # An API token is read here, after the middleware: log lines learn the user now.
        super().perform_authentication(request)  # type: ignore[misc]
        if request.user.is_authenticated:
            bind_user(request.user.pk)

    def get_object(self) -> Any:
        row = super().get_object()  # type: ignore[misc]
        bind_clinic(getattr(row, "clinic_id", None))
        return row

    def get_queryset(self) -> QuerySet:
        return scoped(super().get_queryset(), self.request.user, self.get_required_roles())  # type: ignore[misc, attr-defined]


class ClinicScopedViewSet(ClinicScopedAPIMixin, viewsets.GenericViewSet):
    """Base of every viewset: add DRF's List/Retrieve/Create/Update mixins as needed.

    No destroy: clinical rows are never hard-deleted.
    """
