"""Grouped red-flag alarms, second step: every alarm has its session now (0005 filled it), so
the column becomes required and one open alarm per session is enforced by the database. A
separate migration, since PostgreSQL refuses to alter a table with pending trigger events
from the rows 0005 updated in its transaction."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("adverse_events", "0006_grouped_alarms"),
    ]

    operations = [
        migrations.AlterField(
            model_name='alarm',
            name='session',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='alarms', to='treatments.treatmentsession'),
        ),
        migrations.AlterField(
            model_name='alarm',
            name='submission',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='opened_alarm', to='adverse_events.submission'),
        ),
        migrations.AddConstraint(
            model_name='alarm',
            constraint=models.UniqueConstraint(condition=models.Q(('acknowledged_at__isnull', True)), fields=('session',), name='alarm_one_open_per_session', violation_error_message='This session already has an open red-flag alarm.'),
        ),
        migrations.AddConstraint(
            model_name='alarm',
            constraint=models.CheckConstraint(condition=models.Q(('severity__gte', 1), ('severity__lte', 3)), name='alarm_severity_1_to_3', violation_error_message='Severity: mild, moderate or severe.'),
        ),
    ]
