"""A clinic's country, emergency number and the language of its staff messages.

Existing clinics get no country and no emergency number (patients' pages then say "call your
local emergency number" without a number) until their settings are filled in.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="clinic",
            name="country",
            field=models.CharField(
                default="",
                help_text="ISO 3166 country code (KR, US): the default region of phone numbers.",
                max_length=2,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="clinic",
            name="emergency_number",
            field=models.CharField(
                default="",
                help_text="The local emergency number patients are told to call (119 in Korea, "
                "911 in the US). Never written into a template: every page and message reads "
                "it here.",
                max_length=10,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="clinic",
            name="staff_language",
            field=models.CharField(
                choices=[("en", "English"), ("ko", "한국어")],
                default="en",
                help_text="On-call alerts and other messages to this clinic's staff are in it.",
                max_length=5,
                verbose_name="language of staff messages",
            ),
        ),
    ]
