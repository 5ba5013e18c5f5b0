"""Report overdue messages and check-ins and the sweepers' last heartbeats; exit 1 if not
healthy (usable from cron or a container healthcheck)."""

import json

from django.core.management.base import BaseCommand, CommandError

from clinic.health import delivery_health


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options):
        health = delivery_health()
        if options["json"]:
            self.stdout.write(json.dumps(health.as_json(), indent=2))
        else:
            self.stdout.write(f"overdue messages:  {health.overdue_messages}")
            self.stdout.write(f"overdue check-ins: {health.overdue_checkins}")
            self.stdout.write(f"stuck claims:      {health.stuck_claims}")
            self.stdout.write(f"failed (24 h):     {health.failed_last_24h}")
            for name, beat in health.last_sweeps.items():
                self.stdout.write(f"{name:<18} {beat.isoformat() if beat else 'never'}")
        if not health.healthy:
            raise CommandError("unhealthy: " + "; ".join(health.problems))
        self.stdout.write(self.style.SUCCESS("healthy"))
