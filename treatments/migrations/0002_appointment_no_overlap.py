"""No practitioner holds two overlapping live appointments: an exclusion constraint.

PostgreSQL only (GiST over a time range needs btree_gist for the practitioner column). On
SQLite the booking service checks for overlap inside its IMMEDIATE transaction instead, which
SQLite's single writer makes safe.
"""

from django.db import migrations

CONSTRAINT = "appointment_no_practitioner_overlap"


def add_exclusion(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"ALTER TABLE treatments_appointment ADD CONSTRAINT {CONSTRAINT} "
        "EXCLUDE USING gist (practitioner_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status IN ('booked', 'arrived', 'completed'))"
    )


def drop_exclusion(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE treatments_appointment DROP CONSTRAINT {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("treatments", "0001_initial")]
    operations = [migrations.RunPython(add_exclusion, drop_exclusion)]
