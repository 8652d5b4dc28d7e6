"""Recovering runs whose worker died, for brokers that do not re-deliver by themselves.

With acks_late, RabbitMQ re-delivers a dead consumer's message at once and Redis after its visibility
timeout, but the embedded SQL broker keeps a delivered message hidden forever. So every worker sweeps at start
and then every ``INTERVAL`` seconds (``matcher serve`` restarts a dead worker, so its runs are recovered
within a minute): a run RUNNING in the database whose run lock nobody holds
(``services.run_lock``: the kernel released it when its process died) is queued again; a STOPPING one nobody
executes is ended STOPPED. A run still STARTING ``LOST_AFTER`` after its creation while the queue holds no
message has lost its message (the API died between its commit and the publish, a worker died between fetching
and claiming it on the SQL broker, a Redis without persistence restarted): it is queued again too. Queuing
twice is harmless (the engine runs a run at most once at a time and never after it finished), so several
workers may sweep at once, on any broker.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import select, update

from services import run_lock, run_state, upload_retention
from services.config import Config
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import TaskRun, utcnow
from storage.run_status import ACTIVE, RunStatus
from workers.dispatch import queued_messages, send
from workers.tasks import resources

log = logging.getLogger(__name__)

INTERVAL = 15.0
LOST_AFTER = timedelta(seconds=40)  # + INTERVAL: a lost run is queued again within a minute
_stop = threading.Event()


def sweep(app: Celery, config: Config) -> dict[str, int]:
    """One pass; returns how many runs were re-queued or stopped and how many stale lock files and forgotten
    uploads (``services.upload_retention.prune``) were removed."""
    db, store = resources(config)
    counts = {"requeued": 0, "stopped": 0, "locks_removed": 0, "lost_requeued": 0}
    for run_id, status in run_state.active_runs(db):
        if run_lock.is_held(store.root, run_id):
            continue
        if status == RunStatus.STOPPING:
            counts["stopped"] += run_state.end(db, run_id, RunStatus.STOPPED, expect=(RunStatus.STOPPING,))
        elif _still_orphaned(db, store, run_id):
            celery_id = _resend(app, db, run_id)
            log.warning("task run %s was RUNNING on a worker that died; queued again as %s", run_id, celery_id)
            counts["requeued"] += 1
    counts["lost_requeued"] = _requeue_lost(app, db, store)
    counts["locks_removed"] = _remove_stale_locks(db, store)
    counts["uploads_removed"] = upload_retention.prune(db, store.root)
    return counts


def _resend(app: Celery, db: Database, run_id: str, timeout_minutes: int | None = None) -> str:
    if timeout_minutes is None:
        with db.session() as session:
            timeout_minutes = session.scalar(select(TaskRun.timeout_minutes).where(TaskRun.id == run_id))
    celery_id = send(app, run_id, timeout_minutes)
    with db.session() as session:
        session.execute(update(TaskRun).where(TaskRun.id == run_id).values(celery_task_id=celery_id))
    return celery_id


def _requeue_lost(app: Celery, db: Database, store: ArtifactStore) -> int:
    """Re-send STARTING runs older than LOST_AFTER, but only while the queue is empty: a message still waiting
    behind long runs is not lost. (A retry waiting out its countdown in a worker may so run early: harmless.)"""
    stale = run_state.starting_before(db, utcnow() - LOST_AFTER)
    if not stale or queued_messages(app) != 0:
        return 0
    requeued = 0
    for run_id, timeout_minutes in stale:
        if run_lock.is_held(store.root, run_id):
            continue
        celery_id = _resend(app, db, run_id, timeout_minutes)
        log.warning("task run %s was STARTING with no message in the queue; queued again as %s", run_id, celery_id)
        requeued += 1
    return requeued


def _still_orphaned(db: Database, store: ArtifactStore, run_id: str) -> bool:
    """Re-read after the lock probe: a run that just finished released its lock after its final commit."""
    return run_state.status(db, run_id) == RunStatus.RUNNING and not run_lock.is_held(store.root, run_id)


def _remove_stale_locks(db: Database, store: ArtifactStore) -> int:
    stems = [p.stem for p in (store.root / "locks").glob("*.lock")][:500]  # bounded IN (...) list
    if not stems:
        return 0
    with db.session() as session:
        active = set(session.scalars(select(TaskRun.id).where(TaskRun.id.in_(stems),
                                                               TaskRun.status.in_(ACTIVE))))
    return run_lock.remove_stale(store.root, set(stems) - active)


def _loop(app: Celery, config: Config) -> None:
    while True:
        try:
            counts = sweep(app, config)
            if counts["requeued"] or counts["stopped"] or counts["lost_requeued"]:
                log.warning("recovery sweep: %s", counts)
        except Exception as exc:  # noqa: BLE001 (a database blip must not end recovery for good)
            log.warning("recovery sweep failed: %s", exc)
        if _stop.wait(INTERVAL):
            return


@worker_ready.connect
def _start(sender: object = None, **_kwargs: object) -> None:
    app = getattr(sender, "app", None)
    config = getattr(app, "matcher_config", None)
    if app is None or config is None:
        return
    _stop.clear()
    threading.Thread(target=_loop, args=(app, config), name="matcher-recovery", daemon=True).start()


@worker_shutdown.connect
def _shutdown(**_kwargs: object) -> None:
    _stop.set()
