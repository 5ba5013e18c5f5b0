"""Build the demo clinics (Seoul and New York) with a year of believable history.

The data itself is built by `clinic.demo` (the top floor: it writes every app's rows); this
command only guards, runs it and prints how to log in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Seed the demo: two clinics (Seoul, New York), staff in every role with fixed TOTP "
        "secrets, ~200 patients per --scale, products and lots, series, appointments, sessions, "
        "check-ins, reactions, assessments, messages and call tasks. Runs only with "
        "DEMO_MODE=true, or with --force (tests and benchmarks on a scratch database: the demo "
        "accounts share a public password). Running it again on a seeded database changes "
        "nothing. --scale 10 gives ~2,000 patients for performance work."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply patients (and so series, sessions, reports...). Default 1 (~200).",
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run outside DEMO_MODE (scratch databases for tests and benchmarks only).",
        )

    def handle(self, *args: Any, scale: float, seed: int, force: bool, **options: Any) -> None:
        # Demo accounts have a published password and TOTP secrets: never on a real install.
        if not (settings.DEMO_MODE or force):
            raise CommandError(
                "seed_demo creates accounts with a public password; it runs only with "
                "DEMO_MODE=true (or --force on a scratch database)."
            )
        if not 0.01 <= scale <= 1000:
            raise CommandError("--scale must be between 0.01 and 1000.")
        from clinic.demo import demo_seed

        result = demo_seed(scale=scale, seed=seed)
        if not result.seeded:
            self.stdout.write("The demo clinics are already seeded; nothing changed.")
        else:
            self.stdout.write(f"Seeded at scale {scale:g} (seed {seed}) in {result.seconds:.1f} s.")
            width = max(len(label) for label in result.counts)
            for label, count in result.counts.items():
                self.stdout.write(f"  {label:<{width}}  {count:>8,}")
        self._print_credentials(result.staff)

    def _print_credentials(self, staff: list[Any]) -> None:
        from clinic.demo import DEMO_PASSWORD, totp_key_base32

        site = getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")
        self.stdout.write("")
        self.stdout.write(f"Open {site}/ (staff pages) or {site}/admin/ (admin: user 'admin').")
        self.stdout.write(f"Password for every demo account: {DEMO_PASSWORD}")
        self.stdout.write("")
        rows = [("username", "roles", "TOTP secret (base32, for an authenticator app)")]
        for spec in staff:
            roles = ", ".join(f"{role.replace('_', ' ')} @ {clinic}" for clinic, role in spec.roles)
            if spec.is_superuser:
                roles += " + admin superuser"
            rows.append((spec.username, roles, totp_key_base32(spec.username)))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        for r in rows:
            self.stdout.write(f"  {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
        self.stdout.write("")
        self.stdout.write(
            "No phone at hand? `manage.py demo_totp <username>` prints the current code."
        )
