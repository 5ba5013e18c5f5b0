"""A task and a sender for the embedded-broker load test (tests/infra/test_embedded_broker.py).

The worker imports this module (`celery worker --include tests.infra.broker_load`); the task
appends its id to the file named by BROKER_LOAD_RECORD, one line per run. The sender runs as
its own process, like the web server or beat sending while the worker reads:

    python -m tests.infra.broker_load FIRST COUNT [PAUSE_SECONDS]
"""

from __future__ import annotations

import os
import sys
import time

from celery import shared_task

TASK = "tests.infra.broker_load.record"


@shared_task(name=TASK, ignore_result=True)
def record(message_id: int) -> None:
    # One short O_APPEND write per id: lines from one worker never interleave.
    with open(os.environ["BROKER_LOAD_RECORD"], "a") as out:
        out.write(f"{message_id}\n")


def send(first: int, count: int, pause: float = 0.0) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    from clinic.celery import app

    with app.producer_or_acquire() as producer:
        for message_id in range(first, first + count):
            app.send_task(TASK, args=[message_id], producer=producer)
            if pause:
                time.sleep(pause)  # keeps the worker caught up, polling for new files


if __name__ == "__main__":
    send(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
