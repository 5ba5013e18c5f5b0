"""Queue SMS messages in a fault test's scratch database (run as a subprocess).

    python -m tests.faults.seed --messages 1000 --spread 10

Rows go straight into the outbox as staff notices by SMS (no patient, so the 48 h catch-up
policy never applies), due from now over `--spread` seconds, so they come due while the worker
runs. Keys are `fault:<n>`; each row's uuid is the idempotency key the provider sees.
"""

from __future__ import annotations

import argparse
import os
from datetime import timedelta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument(
        "--spread", type=float, default=0.0, help="seconds over which rows fall due"
    )
    parser.add_argument("--prefix", default="fault")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    from django.utils import timezone

    from clinic.core.models import Clinic
    from patients.models import Channel, MessageKind, OutboxMessage

    clinic, _ = Clinic.objects.get_or_create(
        name="Fault test clinic",
        defaults={
            "time_zone": "UTC",
            "phone": "+44 20 7946 0000",
            "on_call_email": "oncall@example.org",
        },
    )
    now = timezone.now()
    step = args.spread / max(1, args.messages)
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                clinic=clinic,
                kind=MessageKind.STAFF_NOTICE,
                channel=Channel.SMS,
                to_address="+447700900000",
                body="Fault test message.",
                idempotency_key=f"{args.prefix}:{n}",
                due_at=now + timedelta(seconds=n * step),
            )
            for n in range(args.messages)
        ],
        batch_size=1000,
    )
    print(args.messages)


if __name__ == "__main__":
    main()
