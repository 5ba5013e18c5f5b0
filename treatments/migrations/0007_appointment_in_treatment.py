""""In treatment" is a live appointment status: the choices check, the one-live-appointment-
per-series-step constraint and, on PostgreSQL, the no-overlap exclusion constraint (0002) count
it, so a practitioner with a patient in the chair cannot be double-booked over them.
"""

from django.conf import settings
from django.db import migrations, models

CONSTRAINT = "appointment_no_practitioner_overlap"


def _exclusion(schema_editor, statuses):
    if schema_editor.connection.vendor != "postgresql":
        return
    live = ", ".join(f"'{s}'" for s in statuses)
    schema_editor.execute(f"ALTER TABLE treatments_appointment DROP CONSTRAINT {CONSTRAINT}")
    schema_editor.execute(
        f"ALTER TABLE treatments_appointment ADD CONSTRAINT {CONSTRAINT} "
        "EXCLUDE USING gist (practitioner_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        f"WHERE (status IN ({live}))"
    )


def exclusion_with_in_treatment(apps, schema_editor):
    _exclusion(schema_editor, ("booked", "arrived", "in_treatment", "completed"))


def exclusion_without_in_treatment(apps, schema_editor):
    _exclusion(schema_editor, ("booked", "arrived", "completed"))


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0004_idempotency_record_moves_here'),
        ('patients', '0003_normalised_phones_and_name_keys'),
        ('treatments', '0006_checkin_updated_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='appointment',
            name='appointment_status_valid',
        ),
        migrations.RemoveConstraint(
            model_name='appointment',
            name='appointment_one_live_per_series_step',
        ),
        migrations.AlterField(
            model_name='appointment',
            name='status',
            field=models.CharField(choices=[('booked', 'Booked'), ('arrived', 'Arrived'), ('in_treatment', 'In treatment'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('no_show', 'No-show')], default='booked', max_length=12),
        ),
        migrations.AlterField(
            model_name='historicalappointment',
            name='status',
            field=models.CharField(choices=[('booked', 'Booked'), ('arrived', 'Arrived'), ('in_treatment', 'In treatment'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('no_show', 'No-show')], default='booked', max_length=12),
        ),
        migrations.AddConstraint(
            model_name='appointment',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['booked', 'arrived', 'in_treatment', 'completed', 'cancelled', 'no_show'])), name='appointment_status_valid', violation_error_message='status must be one of: booked, arrived, in_treatment, completed, cancelled, no_show.'),
        ),
        migrations.AddConstraint(
            model_name='appointment',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ('booked', 'arrived', 'in_treatment', 'completed'))), fields=('series', 'sequence'), name='appointment_one_live_per_series_step', violation_error_message='This step of the series is already booked.'),
        ),
        migrations.RunPython(exclusion_with_in_treatment, exclusion_without_in_treatment),
    ]
