"""Staff login with two factors, enrolment of the second factor, and the staff lifecycle's
forms (invitation, roles, confirmation, joining)."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from .account import recovery_device_of
from .models import Invitation, Language, Role, User
from .otp import confirmed_totp_device
from .recovery import looks_like_recovery_code

# One message for a wrong password, a wrong code and a missing code: a different message for
# "password right, code wrong" would tell an attacker the password is right.
INVALID_LOGIN = _(
    "That username, password and code do not match. Check the code in your authenticator "
    "app and try again."
)


def _code_field() -> forms.CharField:
    return forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        required=False,
        max_length=6,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]{6}",
            }
        ),
    )


def _code_or_recovery_field() -> forms.CharField:
    """The six-digit code, or a recovery code (`abcd-efgh-jk`) when the phone is lost: no
    numeric keyboard and no digits-only pattern, so letters can be typed."""
    return forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        required=False,
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class AccessibleErrorsMixin:
    """Mark invalid inputs with aria-invalid and point them at their error list."""

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in self.errors:  # type: ignore[attr-defined]
            if name in self.fields:  # type: ignore[attr-defined]
                bound = self[name]  # type: ignore[index]
                attrs = self.fields[name].widget.attrs  # type: ignore[attr-defined]
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{bound.auto_id}_errors"


class TwoFactorLoginMixin:
    """Username and password (the first factor) plus the code of the user's TOTP device.

    The device is the user's one confirmed TOTP device, so the form needs no device picker.
    A user without a confirmed device passes with the password alone and is *not* verified:
    every staff page then sends them to enrolment, and nothing else is reachable.

    A wrong or missing code is reported to django-axes as a failed login (axes only hears of
    failures through `authenticate()`, which the password alone passes), so guessing codes
    locks the account + address like guessing passwords does.
    """

    # Admin login refuses users who have not enrolled; enrolment happens on the staff login.
    device_required = False
    # The staff login takes a recovery code in place of the six-digit code; the admin does not.
    accepts_recovery_codes = False
    # Set by clean() when a recovery code let the user in (the view says how many remain).
    recovery_device: Any = None

    request: Any
    cleaned_data: dict[str, Any]
    error_messages: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # type: ignore[misc]  # authenticate(): password + lockout
        user = self.get_user()  # type: ignore[attr-defined]
        if user is None:
            # A blank username or password: its field already says so; nothing to verify.
            return cleaned
        device = confirmed_totp_device(user)
        if device is None:
            if self.device_required:
                raise forms.ValidationError(
                    _("Set up your authenticator app on the staff login page first."),
                    code="no_device",
                )
            user.otp_device = None
            return cleaned
        token = (cleaned.get("otp_token") or "").strip()
        if self.accepts_recovery_codes and looks_like_recovery_code(token):
            recovery = recovery_device_of(user)
            if recovery is None or not recovery.verify_token(token):
                self._report_failure()
                raise forms.ValidationError(INVALID_LOGIN, code="invalid_login")
            self.recovery_device = recovery
            user.otp_device = recovery
            return cleaned
        allowed, _extra = device.verify_is_allowed()
        if not allowed and token_matches(device, token):
            # django-otp's back-off after wrong codes (1, 2, 4, 8... s) refuses even the right
            # code. Only someone holding the password *and* the phone sees this message, so
            # it tells an attacker nothing, and a user who mistyped is not locked out.
            self.user_cache = None
            raise forms.ValidationError(
                _("Too many wrong codes just now. Wait for the next code and try again."),
                code="throttled",
            )
        if not (allowed and self._verify(device, token)):
            self._report_failure()
            raise forms.ValidationError(INVALID_LOGIN, code="invalid_login")
        # django-otp's user_logged_in receiver stores this device in the session: verified.
        user.otp_device = device
        return cleaned

    @staticmethod
    def _verify(device: TOTPDevice, token: str) -> bool:
        if not (len(token) == device.digits and token.isdigit()):
            return False
        allowed, _extra = device.verify_is_allowed()  # django-otp's own back-off
        return bool(allowed) and device.verify_token(token)

    def _report_failure(self) -> None:
        username = self.cleaned_data.get("username")
        user_login_failed.send(
            sender=type(self),
            credentials={"username": username},
            request=self.request,
        )
        # The password was right; drop the user so nothing downstream logs them in.
        self.user_cache = None


def token_matches(device: TOTPDevice, token: str) -> bool:
    """Whether `token` is valid now, without recording a use or a failure on the device."""
    if not (len(token) == device.digits and token.isdigit()):
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return bool(totp.verify(int(token), device.tolerance, device.last_t + 1))


class StaffLoginForm(AccessibleErrorsMixin, TwoFactorLoginMixin, AuthenticationForm):
    accepts_recovery_codes = True
    otp_token = _code_or_recovery_field()

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": INVALID_LOGIN,
    }


class AdminLoginForm(TwoFactorLoginMixin, AdminAuthenticationForm):
    """The admin's login: the same two factors, and the user must be a superuser (`is_staff`
    alone is refused: clinics run their staff on the staff pages, scoped to their clinic)."""

    device_required = True
    otp_token = _code_field()

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": INVALID_LOGIN,
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class EnrollmentForm(AccessibleErrorsMixin, forms.Form):
    """Confirm a new authenticator app by typing the code it shows."""

    otp_token = _code_field()

    def __init__(self, *args: Any, device: TOTPDevice, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.device = device
        self.fields["otp_token"].required = True

    def clean_otp_token(self) -> str:
        token = (self.cleaned_data.get("otp_token") or "").strip()
        if not TwoFactorLoginMixin._verify(self.device, token):
            raise forms.ValidationError(
                _("That code does not match. Enter the code your app shows now."),
                code="invalid_token",
            )
        return token


class ProfileForm(AccessibleErrorsMixin, forms.ModelForm):
    """What a staff member may change about themselves: the name others see, their language."""

    class Meta:
        model = User
        fields = ["first_name", "last_name", "language"]
        labels = {
            "first_name": _("Given name"),
            "last_name": _("Family name"),
            "language": _("Language of the staff pages"),
        }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("As my browser asks"))] + [
            (code, label) for code, label in Language.choices
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in ("first_name", "last_name"):
            cleaned[name] = (cleaned.get(name) or "").strip()
        if not cleaned.get("first_name") and not cleaned.get("last_name"):
            self.add_error(
                "first_name", _("Enter your name, so that colleagues and records show who you are.")
            )
        return cleaned


# --- staff lifecycle (a clinic manager's pages) ----------------------------------------------


def _roles_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=_("Roles at this clinic"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one role. To end someone's access, deactivate them.")
        },
    )


class InvitationForm(AccessibleErrorsMixin, forms.Form):
    """Invite a new colleague: their name, email and roles at this clinic."""

    first_name = forms.CharField(label=_("Given name"), max_length=150)
    last_name = forms.CharField(label=_("Family name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), max_length=254)
    username = forms.CharField(
        label=_("Username (optional)"),
        max_length=150,
        required=False,
        validators=[UnicodeUsernameValidator()],
        help_text=_("Leave empty to let them choose one."),
    )
    roles = _roles_field()

    def clean_username(self) -> str:
        username = (self.cleaned_data.get("username") or "").strip()
        if username and User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken; choose another."))
        return username


class RolesForm(AccessibleErrorsMixin, forms.Form):
    """The roles a staff member holds at this clinic (ticked ones are kept or added)."""

    roles = _roles_field()


class ConfirmForm(forms.Form):
    """An irreversible step's explicit "yes": the confirmation page's button sends it."""

    confirm = forms.ChoiceField(
        choices=[("yes", "yes")],
        error_messages={"required": _("Confirm this step on its confirmation page.")},
    )


class JoinForm(AccessibleErrorsMixin, forms.Form):
    """The invitee's username (unless the manager chose one) and password."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters, not a common password, not like your name."),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, invitation: Invitation, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation.username:
            self.fields["username"].initial = invitation.username
            self.fields["username"].disabled = True

    def clean_username(self) -> str:
        username = (self.cleaned_data.get("username") or "").strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken; choose another."))
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first and data.get("username"):
            invitee = User(
                username=data["username"],
                email=self.invitation.email,
                first_name=self.invitation.first_name,
                last_name=self.invitation.last_name,
            )
            try:
                validate_password(first, invitee)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


# --- the confirmation step before an irreversible action ---------------------------------------


def confirmed(request: Any) -> bool:
    """True only when the POST came from the confirmation page (`confirm=yes`): a POST without
    it never acts, it shows what would happen (clinic/core/templates/core/confirm.html)."""
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def confirm_page(
    request: Any,
    *,
    heading: str,
    effects: list[str],
    action_url: str,
    confirm_label: str,
    back_url: str,
    back_label: str,
    hidden: list[tuple[str, str]] | None = None,
    form: Any = None,
    fields: list[str] | None = None,
) -> Any:
    """The one confirmation page (status 200): what will happen, the reason where the action
    needs one (`fields` picks which of the form's fields show; the rest go in `hidden`), a
    danger button posting `confirm=yes`, and a way back."""
    shown = [] if form is None else [form[name] for name in fields] if fields else list(form)
    return render(
        request,
        "core/confirm.html",
        {
            "heading": heading,
            "effects": effects,
            "action_url": action_url,
            "confirm_label": confirm_label,
            "back_url": back_url,
            "back_label": back_label,
            "hidden": hidden or [],
            "form": form,
            "fields": shown,
        },
    )
