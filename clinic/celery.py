"""The Celery app, following the official Django recipe.

The periodic schedule lives here, in one place, each entry with a plain-words comment.
Far-future work (a check-in in 14 days) is a database row with a due time swept by one of
these periodic tasks, never a Celery ETA or countdown: a broker can lose or repeat those.
"""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import task_failure, worker_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_failure.connect(dispatch_uid="clinic.metrics.task_failed")
def _count_task_failure(sender=None, **kwargs):  # noqa: ANN001, ANN202 (Celery's signature)
    from clinic.core.metrics import task_failed

    task_failed(sender=sender)


@worker_init.connect(dispatch_uid="clinic.metrics.clear_folder")
def _clear_metrics_folder(**kwargs):  # noqa: ANN003, ANN202
    # Before the pool starts: a new worker counts from an empty folder (prometheus-client's
    # multiprocess rule; gunicorn.conf.py does the same for web).
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


@worker_process_shutdown.connect(dispatch_uid="clinic.metrics.process_dead")
def _mark_process_dead(pid=None, **kwargs):  # noqa: ANN001, ANN202
    # A prefork child that exits leaves its metric files; multiprocess mode must be told.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


app.conf.beat_schedule = {
    # Proves beat and worker are alive: records a heartbeat row the health check reads.
    "heartbeat-every-minute": {
        "task": "clinic.core.tasks.heartbeat",
        # Tests shorten it to a second or two to watch a real beat and worker at work.
        "schedule": float(os.environ.get("HEARTBEAT_INTERVAL_SECONDS", "60")),
    },
    # Turns due check-ins into outbox messages, reminds unanswered ones once after 24 h, and
    # hands still-unanswered ones to the front desk as calls.
    "checkins-sweep": {
        "task": "treatments.tasks.checkins_sweep",
        "schedule": float(os.environ.get("SWEEP_INTERVAL_SECONDS", "30")),
    },
    # Delivers every message that is due: returns expired leases, applies the 48 h catch-up
    # policy, claims due rows in batches and hands each batch to one delivery task.
    "outbox-sweep": {
        "task": "patients.tasks.outbox_sweep",
        "schedule": float(os.environ.get("SWEEP_INTERVAL_SECONDS", "30")),
    },
    # Brings the chart and lot-signal summary tables up to date: only what changed since the
    # last run is recomputed, so an idle clinic costs a few index lookups.
    "summaries-refresh": {
        "task": "adverse_events.tasks.summaries_refresh_task",
        "schedule": float(os.environ.get("SUMMARIES_INTERVAL_SECONDS", "300")),
    },
    # Nightly lot safety: refreshes the summary tables and computes every lot's rates and
    # signals (new reports also ask for a run a minute later, debounced).
    "lot-signals-nightly": {
        "task": "adverse_events.tasks.signals_run",
        "schedule": crontab(hour=3, minute=15),
    },
}
