"""A task run's life on its database row: claim, progress, and the one terminal transition.

Every transition is a conditional UPDATE on the current status, so the worker and the API's cancel never
overwrite each other: the API moves an active run to STOPPING, the worker notices it at the next progress
report (cooperative cancel) and ends it STOPPED; a run that is already terminal is never touched again, which
makes a re-delivered message (acks_late after a crash) harmless once the run has finished. The statuses and
their transitions: ``storage.run_status``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Dataset, TaskRun, Transform, User, as_utc, utcnow
from storage.run_status import ACTIVE, TERMINAL, RunStatus

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes: enough for a UI, cheap for SQLite


class Cancelled(Exception):
    """The run's row says STOPPING: someone asked to stop it."""


class TimedOut(Exception):
    """started_on + timeout_minutes has passed."""


@dataclass(frozen=True)
class Claimed:
    """Detached copies of what the engine needs; the session that loaded them is closed."""

    run: TaskRun
    transform: Transform
    dataset: Dataset
    user_name: str | None

    @property
    def deadline(self) -> datetime:
        return _deadline(self.run)


def _aware(moment: datetime | None) -> datetime:
    """SQLite hands back naive datetimes even for timezone=True columns; we always store UTC."""
    return utcnow() if moment is None else as_utc(moment)


def claim(db: Database, run_id: str) -> Claimed | None:
    """Move an active run to RUNNING for one more attempt, or None when there is nothing to execute.

    A run found RUNNING was left behind by a dead worker (or a transient error): it starts again from
    scratch. started_on keeps the first start, so the timeout bounds the whole run, retries included.
    A concurrent change of the row (a cancel) makes the conditional update miss: decide again.
    """
    for _ in range(5):
        with db.session() as session:
            decided, claimed = _claim_once(session, run_id)
        if decided:
            return claimed
    raise RuntimeError(f"task run {run_id}: its status kept changing while being claimed")


def _claim_once(session: Session, run_id: str) -> tuple[bool, Claimed | None]:
    run = session.get(TaskRun, run_id)
    if run is None:
        log.warning("task run %s does not exist; message dropped", run_id)
        return True, None
    if run.status not in (RunStatus.STARTING, RunStatus.RUNNING):
        return (_end_row(session, run, RunStatus.STOPPED, None, (RunStatus.STOPPING,)) or run.status in TERMINAL), None
    transform = session.get_one(Transform, run.transform_id)
    if run.attempts > transform.max_retries:
        message = (f"gave up after {run.attempts} attempts (the worker died or lost its connection each time; "
                   f"{transform.max_retries} retries allowed)")
        return _end_row(session, run, RunStatus.FAILED, message, (run.status,)), None
    if run.started_on is not None and utcnow() >= _deadline(run):
        message = f"timed out after {run.timeout_minutes} minutes"
        return _end_row(session, run, RunStatus.TIMEOUT, message, (run.status,)), None
    started = _aware(run.started_on) if run.started_on else utcnow()
    changed = _rowcount(session.execute(
        update(TaskRun).where(TaskRun.id == run_id, TaskRun.status == run.status, TaskRun.attempts == run.attempts)
        .values(status=RunStatus.RUNNING, attempts=run.attempts + 1, progress=0.0, stage="starting", error_message=None,
                output=None, output_format=None, started_on=started)))
    if not changed:
        return False, None
    session.refresh(run)
    dataset = session.get_one(Dataset, transform.dataset_id)
    user = session.get(User, run.created_by) if run.created_by else None
    return True, Claimed(run, transform, dataset, user.name if user else None)


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched: how a conditional transition tells whether it won."""
    return int(cast(CursorResult[Any], result).rowcount)


def _deadline(run: TaskRun) -> datetime:
    return _aware(run.started_on) + timedelta(minutes=run.timeout_minutes)


def _end_row(session: Session, run: TaskRun, status: str, message: str | None, expect: Iterable[str]) -> bool:
    """Conditional terminal UPDATE (atomic on SQLite and PostgreSQL alike): False if the status had moved on."""
    now = utcnow()
    seconds = round((now - _aware(run.started_on)).total_seconds(), 3) if run.started_on else None
    changed = _rowcount(session.execute(
        update(TaskRun).where(TaskRun.id == run.id, TaskRun.status.in_(tuple(expect)))
        .values(status=status, error_message=message, completed_on=now, execution_seconds=seconds)))
    return bool(changed)


def end(db: Database, run_id: str, status: str, message: str | None = None,
        expect: Iterable[str] = ACTIVE) -> bool:
    """The terminal transition, only from an expected status; False when the run had moved on."""
    with db.session() as session:
        run = session.get(TaskRun, run_id)
        return run is not None and _end_row(session, run, status, message, expect)


class _Refused(Exception):
    """Internal: roll the success transaction back."""


def succeed(db: Database, run_id: str, output: str | None, output_format: str | None,
            apply: Callable[[Session], None] | None = None) -> bool:
    """SUCCEEDED plus the run's own database writes in one transaction; refused (False, nothing written)
    when the run is no longer RUNNING, e.g. a cancel that arrived while outputs were being published.
    The status update goes first: it takes the row (PostgreSQL) or database (SQLite) write lock."""
    try:
        with db.session() as session:
            run = session.get(TaskRun, run_id)
            if run is None or not _end_row(session, run, RunStatus.SUCCEEDED, None, (RunStatus.RUNNING,)):
                raise _Refused()
            session.execute(update(TaskRun).where(TaskRun.id == run_id)
                            .values(output=output, output_format=output_format, progress=1.0, stage="done"))
            if apply is not None:
                apply(session)
    except _Refused:
        return False
    return True


def requeued(db: Database, run_id: str, message: str) -> bool:
    """Back to STARTING while a retry waits in the queue, so recovery does not take it for an orphan."""
    with db.session() as session:
        return bool(_rowcount(session.execute(
            update(TaskRun).where(TaskRun.id == run_id, TaskRun.status == RunStatus.RUNNING)
            .values(status=RunStatus.STARTING, stage=message[:100]))))


def status(db: Database, run_id: str) -> str | None:
    with db.session() as session:
        return session.scalar(select(TaskRun.status).where(TaskRun.id == run_id))


def active_runs(db: Database, statuses: Iterable[str] = (RunStatus.RUNNING, RunStatus.STOPPING)
                ) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(select(TaskRun.id, TaskRun.status).where(TaskRun.status.in_(tuple(statuses))))
        return [(row.id, row.status) for row in rows]


def starting_before(db: Database, cutoff: datetime) -> list[tuple[str, int]]:
    """(id, timeout_minutes) of runs still STARTING that were created before ``cutoff``."""
    with db.session() as session:
        rows = session.execute(select(TaskRun.id, TaskRun.timeout_minutes)
                               .where(TaskRun.status == RunStatus.STARTING, TaskRun.created_at < cutoff))
        return [(row.id, row.timeout_minutes) for row in rows]


class ProgressReporter:
    """The ``matcher.progress`` callback for one run: stores (stage, fraction) at most every 0.5 s and stops the
    engine by raising Cancelled or TimedOut from inside it (the engine calls it between chunks).

    ``window(lo, hi)`` maps the engine's 0..1 onto a slice of the run, e.g. fitting is 0..0.85 of a labeling run.
    Database hiccups while reporting are logged and skipped: progress is advisory, the final transition is not.
    """

    def __init__(self, db: Database, claimed: Claimed, hook: Callable[[str, float], None] | None = None,
                 interval: float = PROGRESS_INTERVAL) -> None:
        self.db, self.run_id, self.deadline = db, claimed.run.id, claimed.deadline
        self.hook, self.interval = hook, interval
        self._lo, self._hi, self._last, self._stage = 0.0, 1.0, 0.0, ""

    def window(self, lo: float, hi: float) -> None:
        self._lo, self._hi = lo, hi

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._last < self.interval:
            return
        self._stage, self._last = stage, now
        self.report(stage, self._lo + (self._hi - self._lo) * max(0.0, min(1.0, fraction)))

    def report(self, stage: str, overall: float) -> None:
        """Write now, then stop the run if it was cancelled or is out of time."""
        status = self._write(stage, overall)
        if self.hook is not None:
            self.hook(stage, overall)
        if status == RunStatus.STOPPING:
            raise Cancelled()
        if utcnow() >= self.deadline:
            raise TimedOut()

    def _write(self, stage: str, overall: float) -> str | None:
        try:
            with self.db.session() as session:
                session.execute(update(TaskRun).where(TaskRun.id == self.run_id)
                                .values(progress=round(overall, 4), stage=stage[:100]))
                return session.scalar(select(TaskRun.status).where(TaskRun.id == self.run_id))
        except OperationalError as exc:
            log.warning("progress of task run %s not stored: %s", self.run_id, exc)
            return None
