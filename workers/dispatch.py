"""Sending task runs to the workers, for the API process (and for recovery).

The API commits the TaskRun row first and enqueues after: a worker that receives the message always finds the
row. If the process dies in between, the run stays STARTING with no message; the API may enqueue it again at
any time, since the engine executes a run at most once at a time and never after it finished.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery

from services.config import Config
from workers.celery_app import TASK_NAME, TASK_QUEUE, MatcherCelery, make_celery

log = logging.getLogger(__name__)

PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}


@lru_cache(maxsize=8)
def app_for(config: Config) -> MatcherCelery:
    """One app (and producer pool) per configuration and process; built on first use, after any fork."""
    return make_celery(config)


def send(app: Celery, task_run_id: str) -> str:
    result = app.send_task(TASK_NAME, args=[task_run_id], queue=TASK_QUEUE, retry=True,
                           retry_policy=PUBLISH_RETRY)
    return str(result.id)


def enqueue(config: Config, task_run_id: str) -> str:
    """Queue the run for a worker; returns the Celery task id (store it on the run, for ``revoke``)."""
    return send(app_for(config), task_run_id)


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
