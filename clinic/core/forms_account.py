"""Forms of a staff member's own account: password change and reset, proving it is them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .account import recovery_device_of
from .forms import AccessibleErrorsMixin, TwoFactorLoginMixin, _code_or_recovery_field
from .otp import confirmed_totp_device
from .recovery import looks_like_recovery_code

WRONG_PASSWORD_OR_CODE = _("That password and code do not match. Check both and try again.")


class AccountPasswordChangeForm(AccessibleErrorsMixin, auth_forms.PasswordChangeForm):
    """Current password, then the new one twice (Django's validators)."""


class AccountPasswordResetForm(AccessibleErrorsMixin, auth_forms.PasswordResetForm):
    """The address to send a reset link to; the answer is the same for an unknown address."""

    def send_mail(self, *args: Any, **kwargs: Any) -> None:
        # In the staff member's own language when they chose one, else the page's.
        context = args[2] if len(args) > 2 else kwargs["context"]
        language = getattr(context.get("user"), "language", "") or translation.get_language()
        with translation.override(language):
            super().send_mail(*args, **kwargs)


class AccountSetPasswordForm(AccessibleErrorsMixin, auth_forms.SetPasswordForm):
    """The new password, twice, on the page the emailed link opens."""


class ReauthForm(AccessibleErrorsMixin, forms.Form):
    """Prove it is you before changing the second factor: the password and a current code from
    the authenticator app, or one of the recovery codes (which it uses up)."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_token = _code_or_recovery_field()

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["otp_token"].required = True
        self.fields["otp_token"].label = _("Code from your authenticator app, or a recovery code")
        self.used_recovery_code = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        password = cleaned.get("password") or ""
        token = (cleaned.get("otp_token") or "").strip()
        if not password or not token:
            return cleaned
        if not self.user.check_password(password) or not self._code_ok(token):
            raise forms.ValidationError(WRONG_PASSWORD_OR_CODE, code="invalid_reauth")
        return cleaned

    def _code_ok(self, token: str) -> bool:
        if looks_like_recovery_code(token):
            recovery = recovery_device_of(self.user)
            self.used_recovery_code = bool(recovery and recovery.verify_token(token))
            return self.used_recovery_code
        device = confirmed_totp_device(self.user)
        return device is not None and TwoFactorLoginMixin._verify(device, token)
