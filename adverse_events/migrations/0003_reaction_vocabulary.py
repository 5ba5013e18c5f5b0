"""Ship the controlled reaction vocabulary as data."""

from django.db import migrations


def forwards(apps, schema_editor):
    from adverse_events.vocabulary import load_terms

    load_terms(apps.get_model("adverse_events", "ReactionTerm"))


class Migration(migrations.Migration):
    dependencies = [("adverse_events", "0002_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
