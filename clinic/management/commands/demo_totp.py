"""Print a demo user's current authenticator code, so a newcomer can log in without a phone."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.core.models import User
from clinic.core.otp import confirmed_totp_device, totp_token


class Command(BaseCommand):
    help = "DEMO_MODE only: print the current six-digit TOTP code of a demo staff user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        # Real accounts' codes live only on their owners' phones; the demo is loopback-only.
        if not settings.DEMO_MODE:
            raise CommandError("demo_totp works only with DEMO_MODE=true.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        device = confirmed_totp_device(user)
        if device is None:
            raise CommandError(f"{username} has no confirmed authenticator device.")
        now = time.time()
        remaining = device.step - int(now - device.t0) % device.step
        self.stdout.write(totp_token(device, at=now))
        self.stderr.write(
            f"valid for about {remaining} more seconds; each code works for one login only."
        )
