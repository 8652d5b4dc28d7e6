"""Sending task runs to the workers, for the API process (and for recovery).

The API commits the TaskRun row first and enqueues after: a worker that receives the message always finds the
row. If the process dies in between, the run stays STARTING with no message; the API may enqueue it again at
any time, since the engine executes a run at most once at a time and never after it finished.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery
from sqlalchemy import select

from services.config import Config
from storage.models import TaskRun
from workers.celery_app import PARTITION_TASK_NAME, TASK_NAME, TASK_QUEUE, MatcherCelery, make_celery

log = logging.getLogger(__name__)

PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}
# Celery's own time limits back up the cooperative timeout (checked at every progress report): a stage that
# stops reporting is interrupted SOFT_GRACE seconds after the run's timeout (SoftTimeLimitExceeded, the run ends
# TIMEOUT) and its pool process killed HARD_GRACE seconds later (the recovery sweep then ends it TIMEOUT).
# Enforced by the prefork pool (``matcher worker``'s default); the solo pool has only the cooperative check.
SOFT_GRACE, HARD_GRACE = 60, 60


@lru_cache(maxsize=8)
def app_for(config: Config) -> MatcherCelery:
    """One app (and producer pool) per configuration and process; built on first use, after any fork."""
    return make_celery(config)


def time_limits(timeout_minutes: int | None) -> tuple[float | None, float | None]:
    """(soft, hard) Celery time limits in seconds for a run with this timeout; None, None when unknown."""
    if not timeout_minutes:
        return None, None
    soft = timeout_minutes * 60 + SOFT_GRACE
    return float(soft), float(soft + HARD_GRACE)


def send(app: Celery, task_run_id: str, timeout_minutes: int | None = None) -> str:
    soft, hard = time_limits(timeout_minutes)
    result = app.send_task(TASK_NAME, args=[task_run_id], queue=TASK_QUEUE, retry=True,
                           retry_policy=PUBLISH_RETRY, soft_time_limit=soft, time_limit=hard)
    return str(result.id)


def send_partition(app: Celery, task_run_id: str, partition: int) -> None:
    """Queue one partition of a run's scoring. Sent one by one as the coordinator writes each input (not as one
    group at the end), so a free worker starts on the first while the rest are being written."""
    app.send_task(PARTITION_TASK_NAME, args=[task_run_id, partition], queue=TASK_QUEUE, retry=True,
                  retry_policy=PUBLISH_RETRY)


def enqueue(config: Config, task_run_id: str) -> str:
    """Queue the run for a worker; returns the Celery task id (store it on the run, for ``revoke``)."""
    return send(app_for(config), task_run_id, run_timeout(config, task_run_id))


def run_timeout(config: Config, task_run_id: str) -> int | None:
    """The run's timeout in minutes, read from its committed row (None if the row cannot be read)."""
    from workers.tasks import resources  # lazy: the task module registers Celery tasks on import

    db, _store = resources(config)
    try:
        with db.session() as session:
            return session.scalar(select(TaskRun.timeout_minutes).where(TaskRun.id == task_run_id))
    except Exception as exc:  # noqa: BLE001 (the limits are a backstop; the run must still be queued)
        log.warning("could not read the timeout of task run %s: %s", task_run_id, exc)
        return None


def queued_messages(app: Celery, warn: bool = True) -> int | None:
    """Messages waiting (visible) in the task queue, or None if the broker cannot tell (logged as a warning
    unless ``warn`` is false: ``/healthz`` reports it instead of logging it at every poll)."""
    try:
        with app.connection_for_write() as connection:
            declared = connection.default_channel.queue_declare(queue=TASK_QUEUE, passive=True)
            return int(declared.message_count)
    except Exception as exc:  # noqa: BLE001
        (log.warning if warn else log.debug)("could not count the messages in queue %s: %s", TASK_QUEUE, exc)
        return None


def revoke(config: Config, celery_task_id: str) -> bool:
    """Tell the workers to drop a queued message. Best effort and only a shortcut: cancelling is setting the run
    STOPPING, which a worker honours at the next progress report or before starting. Brokers without broadcast
    (the embedded SQL broker) cannot carry the revoke; False then."""
    app = app_for(config)
    with app.connection_for_write() as connection:
        if not connection.supports_exchange_type("fanout"):
            return False
    try:
        app.control.revoke(celery_task_id)
    except Exception as exc:  # noqa: BLE001 (the cancel itself already happened in the database)
        log.warning("could not broadcast revoke of %s: %s", celery_task_id, exc)
        return False
    return True
