"""Task runs: the row is committed (STARTING) before the job is enqueued, so a worker always finds it.

The queue is reached through injected callables (``dispatch(config, task_run_id) -> celery_task_id`` and
``revoke(config, celery_task_id)``): the app factory passes ``workers.dispatch``'s, tests pass fakes, and the
services never import the workers (tests/test_layers.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from matcher.errors import shown
from services import entity_stores, run_types
from services import validation as v
from services.config import Config
from services.errors import Conflict, NotFound, ServiceUnavailable, ValidationError
from services.rows import get_or_404
from services.transforms import INTEGERS, label_count
from storage.db import Database
from storage.models import TaskRun, Transform, utcnow
from storage.run_status import RunStatus

log = logging.getLogger(__name__)

Dispatch = Callable[[Config, str], str]
Revoke = Callable[[Config, str], object]

MAX_LIST = 1000
TIMEOUT_RANGE = INTEGERS["timeout_minutes"]  # minutes, bounded as a transform's


def check_params(task_type: Any, params: Any) -> dict[str, Any]:
    """A user's params for a type a user may start, as the handler will read them (ints stored as ints)."""
    startable = run_types.startable()
    if task_type not in startable:
        raise ValidationError(f"type must be one of {', '.join(startable)}, got {shown(task_type)}", field="type")
    params = {} if params is None else v.require_object(params, "params")
    return run_types.get(task_type).check_params(params)


def check_timeout(value: Any) -> int | None:
    """A run's own timeout in minutes (None: the transform's), bounded like the transform's."""
    if value is None:
        return None
    low, high = TIMEOUT_RANGE
    return v.integer({"timeout_minutes": value}, "timeout_minutes", low, high)


def start_run(config: Config, db: Database, transform_id: str, task_type: str, params: dict[str, Any],
              user_id: str | None, dispatch: Dispatch, timeout_minutes: int | None = None) -> TaskRun:
    """Commit a STARTING run, then enqueue it; a queue failure marks the run FAILED and answers 503."""
    run_type = run_types.get(task_type)
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        if run_type.needs_labels and not label_count(session, transform_id):
            raise Conflict(f"{task_type} needs labels: import a labels file or label a labeling set first")
        entity_stores.check_one_writer(session, transform_id, task_type)
        if run_type.needs_store:
            entity_stores.check_batch(config, session, transform, params)
        for name in run_type.required():
            if name not in params:
                raise ValidationError(f"params.{name} is required for {task_type}", field=f"params.{name}")
        run = TaskRun(transform_id=transform_id, type=task_type, status=RunStatus.STARTING, params=params,
                      timeout_minutes=timeout_minutes or transform.timeout_minutes, created_by=user_id)
        session.add(run)
    return _enqueue(config, db, run.id, dispatch)


def _enqueue(config: Config, db: Database, run_id: str, dispatch: Dispatch) -> TaskRun:
    try:
        celery_task_id = dispatch(config, run_id)
    except Exception as exc:
        log.exception("could not enqueue task run %s", run_id)
        with db.session() as session:
            session.execute(update(TaskRun).where(TaskRun.id == run_id, TaskRun.status == RunStatus.STARTING).values(
                status=RunStatus.FAILED, error_message=f"could not enqueue the task: {exc}", completed_on=utcnow()))
        raise ServiceUnavailable(f"the task queue is unreachable, task run {run_id} was marked FAILED; "
                                 "try again later") from exc
    with db.session() as session:  # only this column: a fast worker may already have moved the status
        session.execute(update(TaskRun).where(TaskRun.id == run_id).values(celery_task_id=celery_task_id))
    return get_run(db, run_id)


def get_run(db: Database, run_id: str) -> TaskRun:
    return get_or_404(db, TaskRun, run_id, "task run")


def list_runs(db: Database, transform_id: str, task_type: str | None = None, status: str | None = None,
              limit: int = 100) -> list[TaskRun]:
    if task_type and task_type not in run_types.REGISTRY:
        raise ValidationError(f"type must be one of {', '.join(run_types.names())}, got {shown(task_type)}",
                              field="type")
    if status and status not in tuple(RunStatus):
        raise ValidationError(f"status must be one of {', '.join(RunStatus)}, got {shown(status)}", field="status")
    if not 1 <= limit <= MAX_LIST:
        raise ValidationError(f"limit must be in [1, {MAX_LIST}]", field="limit")
    query = select(TaskRun).where(TaskRun.transform_id == transform_id)
    if task_type:
        query = query.where(TaskRun.type == task_type)
    if status:
        query = query.where(TaskRun.status == status)
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        return list(session.scalars(query.order_by(TaskRun.created_at.desc(), TaskRun.id).limit(limit)))


def cancel_run(config: Config, db: Database, run_id: str, revoke: Revoke) -> TaskRun:
    """STARTING or RUNNING -> STOPPING (the worker finishes the stop); a still queued job is also revoked."""
    was_queued = _transition(db, run_id, RunStatus.STARTING)
    if not was_queued and not _transition(db, run_id, RunStatus.RUNNING):
        run = get_run(db, run_id)
        if run.status == RunStatus.STOPPING:
            return run
        raise Conflict(f"task run {run_id} is already {run.status}; only STARTING or RUNNING runs can be cancelled")
    run = get_run(db, run_id)
    if was_queued and run.celery_task_id:
        try:
            revoke(config, run.celery_task_id)
        except Exception:  # the row says STOPPING; the worker honours that when it picks the job up
            log.exception("could not revoke celery task %s of task run %s", run.celery_task_id, run_id)
    return run


def _transition(db: Database, run_id: str, current: RunStatus) -> bool:
    with db.session() as session:
        result = session.execute(update(TaskRun).where(TaskRun.id == run_id, TaskRun.status == current)
                                 .values(status=RunStatus.STOPPING))
        return bool(cast(CursorResult[Any], result).rowcount)
