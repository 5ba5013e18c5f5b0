"""Writes of the adverse-events app: what a patient submits through their link.

`submission_record` is the one way a patient's answer enters the database. It is exactly
once per `submission_id` (a unique column filled from a hidden form field), so a double tap,
a back-button resubmit or two tabs give one Submission and the later ones get the first back.
A red-flag answer joins its session's open Alarm (or opens one) and, when that is news, queues
the on-call alert, in the same transaction: either the report, the alarm and the alert all
exist, or none does.

`submission_photo_add` attaches a photo to a report already sent (after its own photo was
refused): a new row with its own time beside the patient's words, never an edit of them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.core import links
from clinic.core.exceptions import Conflict, RuleViolation
from patients import outbox
from patients.models import Language, LinkPurpose, MessageKind, PersonalLink
from treatments.models import ANSWERED_STATES, CheckIn, CheckInState

from .models import (
    Alarm,
    Assessment,
    ReactionReport,
    ReactionTerm,
    ReportSource,
    Submission,
    SubmissionPhoto,
    TriageStatus,
)
from .photos import PreparedPhoto
from .selectors import ReportTarget, report_target
from .tasks import signals_schedule_after_commit

logger = logging.getLogger(__name__)

FREE_TEXT_MAX = 5000
# Photos one report can carry (sent with it plus added afterwards).
MAX_PHOTOS = 5


@dataclass(frozen=True)
class ReactionInput:
    """One reaction as the patient described it (validated by `submission_record`)."""

    term: ReactionTerm
    onset_date: date
    ongoing: bool
    patient_severity: int
    stopped_activities: bool
    sought_care: bool
    ended_on: date | None = None
    other_text: str = ""


@dataclass(frozen=True)
class Recorded:
    submission: Submission
    created: bool  # False: this submission_id had already arrived; this is the first one


def link_mark_used(*, link: PersonalLink) -> None:
    """Count a visit through a link (when and how often it was opened)."""
    PersonalLink.objects.filter(pk=link.pk).update(
        last_used_at=timezone.now(), use_count=F("use_count") + 1
    )


def submission_record(
    *,
    link: PersonalLink,
    submission_id: uuid.UUID,
    all_fine: bool,
    reactions: Sequence[ReactionInput] = (),
    free_text: str = "",
    language: str = Language.EN,
    photo: PreparedPhoto | None = None,
) -> Recorded:
    """Record a patient's answer through their link, exactly once per `submission_id`.

    Creates the Submission, one ReactionReport per reaction with an Assessment in triage
    state "new" beside each, the photo, and for a red flag the session's open Alarm (see
    `_raise_alarm`) with an on-call alert due now when it is news; through a check-in link it
    also marks that check-in answered. Raises RuleViolation (with `field`, e.g.
    "reactions.0.ended_on") for answers that cannot be right.
    """
    existing = _existing(link=link, submission_id=submission_id)
    if existing is not None:
        _keep_resent_photo(link=link, submission=existing, photo=photo)
        return Recorded(existing, created=False)
    if not link.is_live:
        raise RuleViolation(_("This link no longer works."), field="link", code="link_dead")
    target = report_target(link)
    if target is None:
        raise RuleViolation(_("This link no longer works."), field="link", code="link_dead")
    _validate(
        target=target, all_fine=all_fine, reactions=reactions, free_text=free_text, photo=photo
    )
    if language not in Language.values:
        language = Language.EN

    stored_name: list[str] = []
    try:
        with transaction.atomic():
            submission = _create(
                target=target,
                submission_id=submission_id,
                all_fine=all_fine,
                reactions=reactions,
                free_text=free_text.strip(),
                language=language,
                photo=photo,
                stored_name=stored_name,
            )
    except IntegrityError:
        _forget_files(stored_name)
        existing = _existing(link=link, submission_id=submission_id)
        if existing is None:
            raise
        _keep_resent_photo(link=link, submission=existing, photo=photo)
        return Recorded(existing, created=False)
    except BaseException:
        _forget_files(stored_name)
        raise
    logger.info("submission %s recorded (red_flag=%s)", submission.pk, submission.red_flag)
    if not all_fine:
        # Lot signals are recomputed a minute later, once for a burst of reports.
        signals_schedule_after_commit()
    return Recorded(submission, created=True)


def _keep_resent_photo(
    *, link: PersonalLink, submission: Submission, photo: PreparedPhoto | None
) -> None:
    """The same form sent again (the back button after a refused photo) with a photo that
    passes: the words are already saved, so the photo is added to them, not lost. A double tap
    that already stored its photo adds nothing."""
    if photo is None or submission.all_fine or not link.is_live or submission.photos.exists():
        return
    submission_photo_add(link=link, submission=submission, photo=photo)


@transaction.atomic
def submission_photo_add(
    *, link: PersonalLink, submission: Submission, photo: PreparedPhoto
) -> SubmissionPhoto:
    """Add a photo to a report the patient already sent through this link.

    The photo is an addition beside the patient's words (its own row, `added_at` now), never
    an edit of them. Refused for another link's submission, a dead link, an "all fine" answer,
    or past MAX_PHOTOS photos on one report.
    """
    if not link.is_live:
        raise RuleViolation(_("This link no longer works."), field="link", code="link_dead")
    # Locked: two tabs adding at once cannot pass the cap together.
    current = Submission.objects.select_for_update().filter(pk=submission.pk, link=link).first()
    if current is None:
        raise RuleViolation(_("This link no longer works."), field="link", code="link_dead")
    if current.all_fine:
        raise RuleViolation(_("A photo goes with a reaction report."), field="photo")
    if current.photos.count() >= MAX_PHOTOS:
        raise RuleViolation(
            _("This report already has %(max)s photos. Call the clinic to send more.")
            % {"max": MAX_PHOTOS},
            field="photo",
            code="photo_limit",
        )
    stored_name: list[str] = []
    try:
        row = _store_photo(
            submission=current, photo=photo, stored_name=stored_name, added_at=timezone.now()
        )
    except BaseException:
        _forget_files(stored_name)
        raise
    logger.info("photo added to submission %s", current.pk)
    return row


def _existing(*, link: PersonalLink, submission_id: uuid.UUID) -> Submission | None:
    found = Submission.objects.filter(submission_id=submission_id).first()
    if found is not None and found.link_id != link.pk:
        # Someone replays another link's id: never show them that patient's answer.
        raise Conflict(_("This form was already used."), field="submission_id")
    return found


def _validate(
    *,
    target: ReportTarget,
    all_fine: bool,
    reactions: Sequence[ReactionInput],
    free_text: str,
    photo: PreparedPhoto | None,
) -> None:
    if all_fine and reactions:
        raise RuleViolation(
            _("Either all is fine or you have reactions, not both."), field="all_fine"
        )
    if not all_fine and not reactions:
        raise RuleViolation(_("Choose at least one reaction."), field="terms")
    if all_fine and photo is not None:
        raise RuleViolation(_("A photo goes with a reaction report."), field="photo")
    if len(free_text) > FREE_TEXT_MAX:
        raise RuleViolation(
            _("Please keep the message under %(max)s characters.") % {"max": FREE_TEXT_MAX},
            field="free_text",
        )
    codes = [r.term.code for r in reactions]
    if len(set(codes)) != len(codes):
        raise RuleViolation(_("Each reaction can be chosen once."), field="terms")
    today = target.clinic.today()
    treated_on = target.treatment_date
    for i, reaction in enumerate(reactions):
        where = f"reactions.{i}"
        if not reaction.term.active:
            raise RuleViolation(_("Choose reactions from the list."), field="terms")
        if reaction.term.is_other and not reaction.other_text.strip():
            raise RuleViolation(
                _("Describe the reaction in a few words."), field=f"{where}.other_text"
            )
        if reaction.patient_severity not in (1, 2, 3):
            raise RuleViolation(
                _("Choose how bad it is: mild, moderate or severe."),
                field=f"{where}.patient_severity",
            )
        if reaction.onset_date > today:
            raise RuleViolation(
                _("The start date cannot be in the future."), field=f"{where}.onset_date"
            )
        if reaction.onset_date < treated_on:
            raise RuleViolation(
                _("The start date cannot be before your treatment on %(date)s.")
                % {"date": treated_on.isoformat()},
                field=f"{where}.onset_date",
            )
        if reaction.ongoing:
            continue
        if reaction.ended_on is None:
            raise RuleViolation(
                _("Give the end date, or choose 'still going'."), field=f"{where}.ended_on"
            )
        if reaction.ended_on < reaction.onset_date:
            raise RuleViolation(
                _("The end date cannot be before the start date."), field=f"{where}.ended_on"
            )
        if reaction.ended_on > today:
            raise RuleViolation(
                _("The end date cannot be in the future."), field=f"{where}.ended_on"
            )


def _create(
    *,
    target: ReportTarget,
    submission_id: uuid.UUID,
    all_fine: bool,
    reactions: Sequence[ReactionInput],
    free_text: str,
    language: str,
    photo: PreparedPhoto | None,
    stored_name: list[str],
) -> Submission:
    session, link = target.session, target.link
    source = (
        ReportSource.CHECKIN if link.purpose == LinkPurpose.CHECKIN else ReportSource.PATIENT_FORM
    )
    red_flag = any(r.term.red_flag for r in reactions)
    submission = Submission(
        clinic=session.clinic,
        patient=session.patient,
        session=session,
        checkin=target.checkin,
        link=link,
        submission_id=submission_id,
        source=source,
        all_fine=all_fine,
        free_text=free_text,
        red_flag=red_flag,
        language=language,
    )
    submission.full_clean(validate_unique=False)
    submission.save()

    reports: list[ReactionReport] = []
    with session.clinic.activate():
        for reaction in reactions:
            report = ReactionReport(
                clinic=session.clinic,
                patient=session.patient,
                session=session,
                submission=submission,
                term=reaction.term,
                other_text=reaction.other_text.strip() if reaction.term.is_other else "",
                onset_date=reaction.onset_date,
                ongoing=reaction.ongoing,
                ended_on=None if reaction.ongoing else reaction.ended_on,
                patient_severity=reaction.patient_severity,
                stopped_activities=reaction.stopped_activities,
                sought_care=reaction.sought_care,
                source=source,
            )
            try:
                report.full_clean()
            except ValidationError as exc:
                field, messages = next(iter(exc.message_dict.items()))
                raise RuleViolation(messages[0], field=field) from exc
            report.save()
            reports.append(report)
            # The triage queue lists assessments in "new": one per report, from the start.
            Assessment.objects.create(report=report, triage_status=TriageStatus.NEW)

    if photo is not None:
        _store_photo(submission=submission, photo=photo, stored_name=stored_name)
    if red_flag:
        _raise_alarm(submission=submission, reactions=reports)
    if target.checkin is not None:
        _answer_checkin(checkin=target.checkin, with_reactions=not all_fine)
    return submission


def _store_photo(
    *,
    submission: Submission,
    photo: PreparedPhoto,
    stored_name: list[str],
    added_at: Any = None,
) -> SubmissionPhoto:
    row = SubmissionPhoto(
        submission=submission,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        size_bytes=photo.size_bytes,
        added_at=added_at,
    )
    # The name comes from photo_upload_to (the row's random uuid), never from the upload.
    row.image.save("photo", ContentFile(photo.content), save=False)
    stored_name.append(row.image.name)
    row.full_clean()
    row.save()
    return row


def _forget_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        try:
            default_storage.delete(name)
        except OSError:  # pragma: no cover - best effort on a failed transaction
            logger.warning("could not remove an orphan photo file")


# After an on-call message, further red flags on the same open alarm wait this long before
# the next one, unless they bring news: a red-flag reaction not in the alarm yet, or a
# higher severity than the patient gave before.
ALERT_INTERVAL = timedelta(minutes=15)


def _raise_alarm(*, submission: Submission, reactions: Sequence[ReactionReport]) -> Alarm:
    """Add a red-flag submission to its session's open alarm, opening one if there is none,
    and queue an on-call message when it is news (see ALERT_INTERVAL).

    One open alarm per session is a partial unique constraint; two submits racing to open it
    both insert, the loser's insert fails inside its savepoint and it joins the winner's row
    (PostgreSQL waits for the winner's commit; SQLite writes one transaction at a time).
    """
    flagged = [r for r in reactions if r.term.red_flag]
    severity = max(r.patient_severity for r in flagged)
    now = timezone.now()
    alarm, opened = _open_alarm_for(submission=submission, severity=severity, now=now)
    known = set() if opened else set(alarm.terms.values_list("pk", flat=True))
    new_terms = [r.term for r in flagged if r.term_id not in known]
    escalates = bool(new_terms) or severity > alarm.severity
    due = (
        opened or escalates or alarm.alerted_at is None or now - alarm.alerted_at >= ALERT_INTERVAL
    )

    Submission.objects.filter(pk=submission.pk).update(alarm=alarm)
    submission.alarm = alarm
    if new_terms:
        alarm.terms.add(*new_terms)
    alarm.severity = max(alarm.severity, severity)
    alarm.last_reported_at = now
    if due:
        alarm.alerted_at = now
    alarm.full_clean(validate_constraints=False)
    alarm.save(update_fields=["severity", "last_reported_at", "alerted_at", "updated_at"])
    if due:
        _queue_alert(alarm=alarm, submission=submission, flagged=flagged, opened=opened)
    return alarm


def _open_alarm_for(*, submission: Submission, severity: int, now: Any) -> tuple[Alarm, bool]:
    """The session's open alarm, locked; a new one (True) when there was none."""
    open_alarms = Alarm.objects.select_for_update(of=("self",)).filter(
        session_id=submission.session_id, acknowledged_at__isnull=True
    )
    # Two tries: the alarm this insert lost to may be acknowledged before we read it back
    # (PostgreSQL), and then there is no open alarm to join: open one after all.
    for attempt in range(2):
        alarm = open_alarms.first()
        if alarm is not None:
            return alarm, False
        alarm = Alarm(
            clinic=submission.clinic,
            patient=submission.patient,
            session_id=submission.session_id,
            submission=submission,
            severity=severity,
            raised_at=now,
            last_reported_at=now,
        )
        alarm.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                alarm.save()
        except IntegrityError:
            # Another submit opened it a moment ago: join that one (read again above).
            if attempt:
                raise
            continue
        return alarm, True
    raise AssertionError("unreachable")  # pragma: no cover


def _queue_alert(
    *, alarm: Alarm, submission: Submission, flagged: Sequence[ReactionReport], opened: bool
) -> None:
    from .alarm_alerts import alarm_alert_text

    clinic = submission.clinic
    # The report page of the first red flag in this submit: one click from the message to it.
    link = f"{settings.SITE_URL.rstrip('/')}{links.url_for('triage-report', flagged[0].uuid)}"
    text = alarm_alert_text(
        clinic=clinic,
        terms=sorted(alarm.terms.all(), key=lambda t: (t.display_order, t.name)),
        severity=alarm.severity,
        reported_at=alarm.last_reported_at,
        link=link,
        follow_up=not opened,
    )
    outbox.message_to_staff(
        clinic=clinic,
        to_email=clinic.on_call_email,
        kind=MessageKind.RED_FLAG_ALERT,
        subject=text.subject,
        body=text.body,
        idempotency_key=f"alarm:{alarm.pk}:submission:{submission.pk}",
        due_at=alarm.alerted_at,
        context={"alarm": alarm.pk, "submission": submission.pk},
    )


def _answer_checkin(*, checkin: CheckIn, with_reactions: bool) -> None:
    """The check-in is answered; a later report of reactions upgrades an 'all fine'."""
    current = CheckIn.objects.select_for_update().get(pk=checkin.pk)
    new_state = CheckInState.ANSWERED_REACTIONS if with_reactions else CheckInState.ANSWERED_FINE
    if current.state == CheckInState.ANSWERED_REACTIONS:
        return
    if current.state == new_state:
        return
    CheckIn.objects.filter(pk=current.pk).update(
        state=new_state,
        answered_at=current.answered_at if current.state in ANSWERED_STATES else timezone.now(),
    )


# --- staff: acknowledging alarms and assessing reports (the dashboard and triage page) -------


@transaction.atomic
def alarm_acknowledge(*, alarm: Alarm, user: Any, note: str = "") -> Alarm:
    """Record who acknowledged a red-flag alarm and when, exactly once.

    The row is locked first, so two clinicians pressing the button together give one
    acknowledgement; the second is told who was first.
    """
    # of=self: PostgreSQL cannot lock the nullable side of the outer join to the acknowledger.
    current = (
        Alarm.objects.select_for_update(of=("self",))
        .select_related("acknowledged_by", "clinic")
        .get(pk=alarm.pk)
    )
    if current.acknowledged_at is not None:
        who = current.acknowledged_by
        name = who.display_name if who else "another clinician"
        raise Conflict(
            f"Already acknowledged by {name} "
            f"at {current.clinic.local(current.acknowledged_at):%H:%M}.",
            field="note",
        )
    current.acknowledged_by = user
    current.acknowledged_at = timezone.now()
    current.acknowledgement_note = note.strip()
    current._history_user = user  # type: ignore[attr-defined]
    current.full_clean()
    current.save()
    return current


# Triage moves forward only: new -> reviewed -> closed (closing straight from new is allowed
# when everything closing needs is there).
TRIAGE_ORDER = {TriageStatus.NEW: 0, TriageStatus.REVIEWED: 1, TriageStatus.CLOSED: 2}
SERIOUSNESS_FIELDS = (
    "serious_death",
    "serious_life_threatening",
    "serious_hospitalisation",
    "serious_disability",
    "serious_medically_important",
)


@transaction.atomic
def assessment_record(
    *,
    report: ReactionReport,
    user: Any,
    triage_status: str,
    severity_grade: int | None,
    outcome: str = "",
    causality: str = "",
    action_taken: str = "",
    notes: str = "",
    serious_death: bool = False,
    serious_life_threatening: bool = False,
    serious_hospitalisation: bool = False,
    serious_disability: bool = False,
    serious_medically_important: bool = False,
) -> Assessment:
    """Record the practitioner's assessment beside a report (the report itself is untouched).

    Rules are checked here, field by field, before the database constraints would refuse the
    row, so the page can show each error next to its field. Every save is kept in the
    assessment's history with the acting user.
    """
    assessment, _ = Assessment.objects.select_for_update().get_or_create(report=report)
    if triage_status not in TRIAGE_ORDER:
        raise RuleViolation("Choose new, reviewed or closed.", field="triage_status")
    moving_to, now_at = TriageStatus(triage_status), TriageStatus(assessment.triage_status)
    if TRIAGE_ORDER[moving_to] < TRIAGE_ORDER[now_at]:
        raise RuleViolation(
            f"This report is already {assessment.get_triage_status_display().lower()}; "
            "triage only moves forward.",
            field="triage_status",
        )
    if triage_status != TriageStatus.NEW and severity_grade is None:
        raise RuleViolation("A reviewed report needs a severity grade.", field="severity_grade")
    if triage_status == TriageStatus.CLOSED:
        if not outcome:
            raise RuleViolation("Closing a report needs its outcome.", field="outcome")
        if not causality:
            raise RuleViolation("Closing a report needs its causality.", field="causality")
    if outcome == "fatal" and not serious_death:
        raise RuleViolation(
            "A fatal outcome is a serious event: tick 'resulted in death'.", field="serious_death"
        )

    assessment.triage_status = triage_status
    assessment.severity_grade = severity_grade
    assessment.outcome = outcome
    assessment.causality = causality
    assessment.action_taken = action_taken.strip()
    assessment.notes = notes.strip()
    assessment.serious_death = serious_death
    assessment.serious_life_threatening = serious_life_threatening
    assessment.serious_hospitalisation = serious_hospitalisation
    assessment.serious_disability = serious_disability
    assessment.serious_medically_important = serious_medically_important
    if triage_status != TriageStatus.NEW or severity_grade is not None:
        assessment.assessed_by = user
        assessment.assessed_at = timezone.now()
    assessment._history_user = user  # type: ignore[attr-defined]
    try:
        assessment.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise RuleViolation(messages[0], field=None if field == "__all__" else field) from exc
    assessment.save()
    if assessment.is_serious:
        # A serious event is a sentinel signal on the lot, whatever the rates.
        signals_schedule_after_commit()
    return assessment
