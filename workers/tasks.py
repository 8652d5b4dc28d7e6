"""The one Celery task: execute a task run. All the work and all state changes live in ``services.engine``;
this module only decides what to do with an exception the engine did not handle.

* transient infrastructure errors (database or broker connection lost) are retried with exponential backoff,
  at most the transform's ``max_retries`` times, the run waiting in STARTING meanwhile;
* anything else is a bug: the run ends FAILED with the exception named, and Celery logs the traceback.

User errors never get here: the engine ends those runs FAILED with the user's message.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from celery import Task, shared_task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from celery.signals import worker_process_init
from sqlalchemy import select

from services import engine, fanout, run_state, upload_retention
from services.config import Config
from services.fanout import FanoutSettings, Send
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import TaskRun, Transform
from storage.run_status import RunStatus
from workers.celery_app import PARTITION_TASK_NAME, TASK_NAME
from workers.dispatch import send_partition

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.DisconnectionError,
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)
DEFAULT_MAX_RETRIES = 3  # when the database cannot even tell us the transform's own limit
BACKOFF_BASE, BACKOFF_MAX = 5.0, 300.0


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT)


def backoff(retries: int) -> float:
    """5 s, 10 s, 20 s, ... at most 5 minutes."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** retries)


_resources: dict[Config, tuple[Database, ArtifactStore]] = {}


def resources(config: Config) -> tuple[Database, ArtifactStore]:
    """One engine (connection pool) and artifact store per process and configuration."""
    if config not in _resources:
        _resources[config] = Database(config.database_url), ArtifactStore(config.data_dir)
    return _resources[config]


@worker_process_init.connect
def _fresh_resources_after_fork(**_kwargs: object) -> None:
    """A forked pool process must not share the parent's database connections (sockets, SQLite handles)."""
    for db, _store in _resources.values():
        db.engine.dispose(close=False)
    _resources.clear()


def config_of(task: Task) -> Config:
    return getattr(task.app, "matcher_config", None) or Config.from_env()


@contextlib.contextmanager
def best_effort(what: str) -> Iterator[None]:
    """Bookkeeping while handling an error must not hide that error."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001
        log.warning("could not %s: %s", what, exc)


def _celery_progress(task: Task, run_id: str) -> Callable[[str, float], None]:
    """Mirror progress into Celery's task state, so Flower shows it next to the task."""
    def hook(stage: str, fraction: float) -> None:
        if task.request.id and not task.request.called_directly:
            with best_effort("store progress in the result backend"):
                task.update_state(state="PROGRESS", meta={"task_run_id": run_id, "stage": stage,
                                                          "progress": round(fraction, 4)})
    return hook


def _fanout(task: Task, config: Config) -> tuple[FanoutSettings, Send]:
    return FanoutSettings.from_config(config), functools.partial(send_partition, task.app)


@shared_task(bind=True, name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
def execute_task_run(self: Task, task_run_id: str) -> str | None:
    config = config_of(self)
    db, store = resources(config)
    try:
        return engine.execute(db, store, task_run_id, _celery_progress(self, task_run_id), _fanout(self, config))
    except SoftTimeLimitExceeded:  # the backstop behind the cooperative timeout (workers.dispatch.time_limits)
        log.error("task run %s: interrupted by the Celery soft time limit", task_run_id)
        with best_effort(f"mark task run {task_run_id} timed out"):
            run_state.end(db, task_run_id, RunStatus.TIMEOUT, "timed out: a stage ran past the run's timeout "
                          "without reporting progress and was interrupted by the worker's time limit")
            upload_retention.forget(db, store.root, task_run_id)
        return run_state.status(db, task_run_id)
    except Exception as exc:
        if is_transient(exc):
            retry_or_give_up(self, db, task_run_id, exc)  # raises celery's Retry unless the retries are used up
            message = f"gave up after {self.request.retries} retries: {type(exc).__name__}: {exc}"
        else:
            message = f"internal error: {type(exc).__name__}: {exc}"
        with best_effort(f"mark task run {task_run_id} failed"):
            run_state.end(db, task_run_id, RunStatus.FAILED, message)
            upload_retention.forget(db, store.root, task_run_id)
        raise


@shared_task(bind=True, name=PARTITION_TASK_NAME, acks_late=True, reject_on_worker_lost=True)
def score_partition(self: Task, task_run_id: str, partition: int) -> bool:
    """Score one partition of a run's candidates if nobody has (services.fanout). Never retried: whatever goes
    wrong here, the run's coordinator scores a partition left without an output itself."""
    try:
        return fanout.score_partition(FanoutSettings.from_config(config_of(self)), task_run_id, partition)
    except Exception:
        log.exception("task run %s: scoring partition %d failed; its coordinator will score it", task_run_id,
                      partition)
        return False


def retry_limit(db: Database, run_id: str) -> int:
    with best_effort(f"read the retry limit of task run {run_id}"), db.session() as session:
        limit = session.scalar(select(Transform.max_retries).join(TaskRun, TaskRun.transform_id == Transform.id)
                               .where(TaskRun.id == run_id))
        if limit is not None:
            return int(limit)
    return DEFAULT_MAX_RETRIES


def retry_or_give_up(task: Task, db: Database, run_id: str, exc: Exception) -> None:
    """Raise celery's Retry after backoff, or return when the retries are used up (the caller fails the run)."""
    retries, limit = task.request.retries, retry_limit(db, run_id)
    if retries >= limit:
        log.error("task run %s: giving up after %d retries: %s", run_id, retries, exc)
        return
    countdown = backoff(retries)
    log.warning("task run %s: transient error, retry %d of %d in %.0f s: %s", run_id, retries + 1, limit,
                countdown, exc)
    with best_effort(f"mark task run {run_id} as waiting for a retry"):
        run_state.requeued(db, run_id, f"retrying in {countdown:.0f} s after: {type(exc).__name__}")
    try:
        task.retry(exc=exc, countdown=countdown, max_retries=limit)
    except Retry:
        raise
    except Exception as publish_error:  # the retry message itself could not be sent: nothing will run it
        with best_effort(f"mark task run {run_id} failed"):
            run_state.end(db, run_id, RunStatus.FAILED, f"could not re-queue after {type(exc).__name__}: {exc} "
                          f"({type(publish_error).__name__}: {publish_error})", expect=(RunStatus.STARTING,))
        raise
