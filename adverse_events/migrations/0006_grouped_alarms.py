"""Grouped red-flag alarms: one open alarm per session, several submissions per alarm.

Existing alarms get their session, terms and severity from their submission; open alarms
that share a session are merged into the oldest (their submissions move to it) before the
"one open alarm per session" constraint is added.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def group_existing(apps, schema_editor):
    Alarm = apps.get_model("adverse_events", "Alarm")
    Submission = apps.get_model("adverse_events", "Submission")
    ReactionReport = apps.get_model("adverse_events", "ReactionReport")
    open_by_session = {}
    for alarm in Alarm.objects.select_related("submission").order_by("raised_at", "pk"):
        submission = alarm.submission
        alarm.session_id = submission.session_id
        alarm.last_reported_at = alarm.raised_at
        alarm.alerted_at = alarm.raised_at
        keep = open_by_session.get(submission.session_id) if alarm.acknowledged_at is None else None
        target = keep or alarm
        flagged = ReactionReport.objects.filter(submission=submission, term__red_flag=True)
        severity = max((r.patient_severity for r in flagged), default=1)
        if keep is None:
            alarm.severity = severity
            alarm.save()
            if alarm.acknowledged_at is None:
                open_by_session[submission.session_id] = alarm
        else:
            keep.severity = max(keep.severity, severity)
            keep.last_reported_at = max(keep.last_reported_at, alarm.raised_at)
            keep.save()
        Submission.objects.filter(pk=submission.pk).update(alarm=target)
        target.terms.add(*{r.term_id for r in flagged})
        if keep is not None:
            # The duplicate's submission now belongs to the kept alarm; the row goes.
            alarm.delete()


class Migration(migrations.Migration):

    dependencies = [
        ('adverse_events', '0005_submission_photo_added_at'),
        ('core', '0002_clinic_numbers_and_staff_language'),
        ('patients', '0002_outboxmessage_send_started_at'),
        ('treatments', '0006_checkin_updated_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='alarm',
            name='alerted_at',
            field=models.DateTimeField(blank=True, help_text='When the latest on-call message was queued.', null=True),
        ),
        migrations.AddField(
            model_name='alarm',
            name='last_reported_at',
            field=models.DateTimeField(default=django.utils.timezone.now, help_text='When the latest red-flag submit joined the alarm.'),
        ),
        migrations.AddField(
            model_name='alarm',
            name='session',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='alarms', to='treatments.treatmentsession'),
        ),
        migrations.AddField(
            model_name='alarm',
            name='severity',
            field=models.PositiveSmallIntegerField(choices=[(1, 'Mild — noticeable, no treatment needed'), (2, 'Moderate — gets in the way of daily activities'), (3, 'Severe — hard to look after myself')], default=1, help_text='The highest severity the patient gave for a red-flag reaction.'),
        ),
        migrations.AddField(
            model_name='alarm',
            name='terms',
            field=models.ManyToManyField(related_name='+', to='adverse_events.reactionterm', verbose_name='red-flag reactions reported'),
        ),
        migrations.AddField(
            model_name='historicalalarm',
            name='alerted_at',
            field=models.DateTimeField(blank=True, help_text='When the latest on-call message was queued.', null=True),
        ),
        migrations.AddField(
            model_name='historicalalarm',
            name='last_reported_at',
            field=models.DateTimeField(default=django.utils.timezone.now, help_text='When the latest red-flag submit joined the alarm.'),
        ),
        migrations.AddField(
            model_name='historicalalarm',
            name='session',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='treatments.treatmentsession'),
        ),
        migrations.AddField(
            model_name='historicalalarm',
            name='severity',
            field=models.PositiveSmallIntegerField(choices=[(1, 'Mild — noticeable, no treatment needed'), (2, 'Moderate — gets in the way of daily activities'), (3, 'Severe — hard to look after myself')], default=1, help_text='The highest severity the patient gave for a red-flag reaction.'),
        ),
        migrations.AddField(
            model_name='submission',
            name='alarm',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='submissions', to='adverse_events.alarm'),
        ),
        migrations.RunPython(group_existing, migrations.RunPython.noop),
    ]
