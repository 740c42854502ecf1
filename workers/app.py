"""The Celery app: Redis as broker and result backend, or eager in the embedded default.

``celery -A workers worker`` finds this app (``workers.app``, re-exported by the package's
``celery`` attribute); ``bangfu worker`` starts the same worker. Tasks live in
:mod:`workers.tasks` and :mod:`workers.refetch` (a quarantined record fetched again); every
one of them is idempotent, so the settings below choose redelivery over loss:

- ``task_acks_late``: a message is acknowledged only after its task has finished, so a worker
  that dies mid-task leaves the message to be delivered again.
- ``task_reject_on_worker_lost``: a pool process killed mid-task sends its message back to the
  queue instead of failing it.
- ``worker_prefetch_multiplier=1``: a worker holds one unacknowledged message per process, so
  a killed worker strands little.
- ``visibility_timeout`` (``BANGFU_CELERY_VISIBILITY_TIMEOUT``, default one hour): how long
  Redis waits before handing an unacknowledged message to another worker. Keep it above the
  longest task; a task run twice does no harm, it only costs time.

Queues per concern (``sync``, ``accounting``, ``reconcile``, ``alerts``) let sync and
accounting scale separately: ``bangfu worker --queues accounting`` on as many machines as needed.
"""

from __future__ import annotations

import os
from datetime import timedelta

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu.entity import Queue

from bangfu.runtime import tune_gc
from bangfu.settings import Settings, get_settings

QUEUES = ("sync", "accounting", "reconcile", "alerts")

ROUTES = {
    "bangfu.sync_shop": {"queue": "sync"},
    "bangfu.sync_all": {"queue": "sync"},
    "bangfu.refetch_quarantined": {"queue": "sync"},
    "bangfu.sync_shop_requested": {"queue": "sync"},
    "bangfu.stock_settle_requested": {"queue": "sync"},
    "bangfu.push_shipments": {"queue": "sync"},
    "bangfu.process_lines": {"queue": "accounting"},
    "bangfu.attribute_lines": {"queue": "accounting"},
    "bangfu.allocate_lines": {"queue": "accounting"},
    "bangfu.post_journals": {"queue": "accounting"},
    "bangfu.process_all": {"queue": "accounting"},
    "bangfu.reconcile": {"queue": "reconcile"},
    "bangfu.reconcile_all": {"queue": "reconcile"},
    "bangfu.detect_unsold": {"queue": "alerts"},
    "bangfu.certificate_expiry": {"queue": "alerts"},
    "bangfu.agreement_alerts": {"queue": "alerts"},
    "bangfu.refresh_task_metrics": {"queue": "alerts"},  # reads figures, like the unsold alerts
}

# The periodic work (``celery -A workers beat`` or ``bangfu worker --beat``).
BEAT_SCHEDULE = {
    "sync-all-shops": {"task": "bangfu.sync_all", "schedule": timedelta(minutes=5)},
    "push-shipments": {"task": "bangfu.push_shipments", "schedule": timedelta(minutes=2)},
    "process-all-lines": {"task": "bangfu.process_all", "schedule": timedelta(minutes=1)},
    "reconcile-last-month": {"task": "bangfu.reconcile_all", "schedule": timedelta(hours=6)},
    "detect-unsold-stock": {"task": "bangfu.detect_unsold", "schedule": timedelta(hours=12)},
    "refresh-task-metrics": {"task": "bangfu.refresh_task_metrics", "schedule": timedelta(hours=1)},
    "certificate-expiry": {"task": "bangfu.certificate_expiry", "schedule": timedelta(hours=12)},
    "agreements-behind-schedule": {"task": "bangfu.agreement_alerts", "schedule": timedelta(hours=24)},
}


def make_app(settings: Settings | None = None) -> Celery:
    """The app for ``settings`` (the process's settings by default)."""
    settings = settings or get_settings()
    eager = settings.is_eager
    visibility = int(os.environ.get("BANGFU_CELERY_VISIBILITY_TIMEOUT", "3600"))
    app = Celery("bangfu", include=["workers.tasks", "workers.refetch", "workers.task_ledger"])
    app.conf.update(
        broker_url=settings.redis_url or "memory://",
        result_backend=None if eager else settings.redis_url,
        task_always_eager=eager,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        task_default_queue="accounting",
        task_routes=ROUTES,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=timedelta(days=1),
        broker_transport_options={
            "visibility_timeout": visibility,
            # kombu looks for overdue unacknowledged messages on every tenth call of this timer,
            # so a dead worker's tasks come back within about 1.1 x the visibility timeout.
            "unacked_restore_interval": max(1, visibility // 10),
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=BEAT_SCHEDULE,
        timezone="Asia/Shanghai",
        enable_utc=True,
    )
    return app


def _tune_gc(**_: object) -> None:
    """The worker and each pool process collect garbage as the CLI does (bangfu.runtime)."""
    tune_gc()


worker_init.connect(_tune_gc, weak=False)
worker_process_init.connect(_tune_gc, weak=False)


app = make_app()
