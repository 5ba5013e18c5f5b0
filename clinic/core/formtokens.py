"""One-time form tokens: every staff create form makes its record once.

Each create form (log a session, register a patient, book a series, receive a lot, add an
addendum) carries a hidden `form_token`, a fresh UUID minted when the form is shown. The
service that creates the record claims the token with `form_token_claim` inside its own
transaction, *before* it checks or writes anything else, and ties it to the new record with
`form_token_bind`. A second POST of the same form (a double click with JavaScript slow, a
resubmit after a slow answer, two tabs) finds the token used and gets the first record back,
marked `already_submitted` (the service's `created: False`); the page then redirects to it
with "This form was already submitted; here is the session it created." The API does the
same with the `Idempotency-Key` header (`clinic/core/api/idempotency.py` turns it into a token).

Why one ground-floor table (`FormToken`) rather than a unique `form_token` column on each
created model:

- The claim comes first. Two simultaneous POSTs both insert the same token; the unique index
  makes the second wait for the first transaction (PostgreSQL) or the IMMEDIATE transaction
  makes it wait before it starts (SQLite), and it then finds the token used. So the second
  never screens, never takes stock, never queues an aftercare message, even transiently,
  and it is not refused for the last vial the first one just took. A column on the session
  would only be checked when the session row is inserted, after the stock was taken.
- One constraint (`form_token_used_once`), one lookup and one migration for every create
  form, instead of a column, a constraint and a history column on six models.

A token is only used when its record was created: a service that refuses the input rolls
back its transaction, claim included, so the corrected form (which keeps its token) still
works. Submitting without a token (an old page, a script) behaves as before: no claim.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django import forms
from django.db import IntegrityError, connection, models, transaction
from django.utils.translation import gettext_lazy as _

from .exceptions import Conflict
from .models import Clinic, FormToken

M = TypeVar("M", bound=models.Model)

FIELD = "form_token"


def _record_type(model: type[models.Model]) -> str:
    return model._meta.label_lower


def form_token_claim(*, token: uuid.UUID | None, model: type[M], clinic: Clinic) -> M | None:
    """Claim `token` for a new `model` record at `clinic`, in the caller's transaction.

    None: claimed (or no token), go on and create the record, then `form_token_bind` it.
    A record: this token already made it; return that (it is marked `already_submitted`).
    A token used for another kind of record or at another clinic is a Conflict: it never
    hands out a record the form did not make.
    """
    if token is None:
        return None
    if not connection.in_atomic_block:
        raise RuntimeError("Claim a form token inside the transaction that creates the record.")
    try:
        with transaction.atomic():
            FormToken.objects.create(token=token, record_type=_record_type(model), clinic=clinic)
    except IntegrityError:
        # The unique index made us wait for the transaction that holds the token; it has
        # committed (else our insert would have gone through), so its record is visible.
        used = FormToken.objects.filter(token=token).first()
        if used is None:
            raise
        record = _record_of(used, model=model, clinic=clinic)
        record.already_submitted = True  # type: ignore[attr-defined]
        return record
    return None


def _record_of(used: FormToken, *, model: type[M], clinic: Clinic) -> M:
    found = None
    if used.record_type == _record_type(model) and used.clinic_id == clinic.pk:
        found = model._default_manager.filter(pk=used.record_id).first()
    if found is None:
        raise Conflict(
            str(_("This form was already used. Reload the page and fill it in again.")),
            field=FIELD,
            code="form_token_used",
        )
    return found


def form_token_bind(*, token: uuid.UUID | None, record: models.Model) -> None:
    """Tie a claimed token to the record it made (same transaction as the claim)."""
    if token is not None:
        FormToken.objects.filter(token=token).update(record_id=record.pk)


def form_token_record(
    *, token: uuid.UUID | None, model: type[M], clinic: Clinic | None
) -> M | None:
    """The `model` record this token made (at `clinic`; None: any), if any: for a page whose
    form would refuse the repeat before its service sees the token (a lot number taken)."""
    if token is None:
        return None
    tokens = FormToken.objects.filter(token=token, record_type=_record_type(model))
    if clinic is not None:
        tokens = tokens.filter(clinic=clinic)
    used = tokens.first()
    if used is None or used.record_id is None:
        return None
    return model._default_manager.filter(pk=used.record_id).first()


class FormTokenMixin(forms.Form):
    """A hidden one-time token on a create form: fresh on every GET, kept on a failed POST
    (the bound form renders the posted value), so a corrected resubmit still counts once."""

    form_token = forms.UUIDField(
        required=False,
        initial=uuid.uuid4,  # called on each render of an unbound form
        widget=forms.HiddenInput,
        error_messages={
            "invalid": _(
                "This form's one-time token (form_token) is damaged. Reload the page and "
                "fill it in again."
            )
        },
    )

    def add_error(self, field: str | None, error: Any) -> None:
        # A hidden field's error would be invisible next to it: show it above the form.
        super().add_error(None if field == FIELD else field, error)

    def token(self) -> uuid.UUID | None:
        return self.cleaned_data.get(FIELD)


def posted_token(data: Any) -> uuid.UUID | None:
    """The form token of a POST, or None when it is missing or not a UUID."""
    try:
        return uuid.UUID(str(data.get(FIELD, "")))
    except ValueError:
        return None
