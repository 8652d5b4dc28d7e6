"""Execute one task run end to end: claim its row, run its type, publish its output, record how it ended.

The worker calls ``execute`` for every delivery of a run's message. Crash safety comes from three rules:

* a run is executed only under its run lock (``services.run_lock``) and only from STARTING or RUNNING, so a
  duplicate delivery of a running or finished run does nothing;
* a re-delivered RUNNING run (its worker died) starts again from scratch; output names are deterministic, so
  a re-run overwrites whatever an earlier attempt may have left with the same content;
* outputs are written (each file atomically) only after the work succeeded, then the SUCCEEDED transition and
  the run's own database writes (labels, labeling sets, metrics) commit as one transaction. A run that fails,
  times out or is stopped, even by a cancel racing with that commit, has its output directory removed.

User errors (``MatcherError``, ``ServiceError``) end the run FAILED with their message; anything else is
raised to the caller (the Celery task), which retries transient infrastructure errors and fails the rest.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from typing import TypeGuard

import pandas as pd
import pyarrow as pa

from matcher.errors import MatcherError
from matcher.io import write_table
from services import run_lock, run_state, run_types, upload_retention
from services.errors import ServiceError
from services.fanout import FanoutSettings, Send
from services.run_context import Deferred, FileContent, Outcome, RunContext, jsonable
from services.run_state import Cancelled, Claimed, ProgressReporter, TimedOut
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.run_status import TERMINAL, RunStatus

log = logging.getLogger(__name__)

ProgressHook = Callable[[str, float], None]


def execute(db: Database, store: ArtifactStore, task_run_id: str, progress_hook: ProgressHook | None = None,
            fanout: tuple[FanoutSettings, Send] | None = None) -> str | None:
    """Execute the run if it is due; returns its status afterwards (None: the run does not exist).
    ``fanout``: where intermediate data goes and how to queue partition tasks (``services.fanout``)."""
    with run_lock.hold(store.root, task_run_id) as held:
        if not held:
            log.info("task run %s is being executed by another process; duplicate delivery ignored", task_run_id)
            return run_state.status(db, task_run_id)
        claimed = run_state.claim(db, task_run_id)
        status = run_state.status(db, task_run_id) if claimed is None else _run(db, store, claimed, progress_hook,
                                                                                 fanout)
        if status in TERMINAL:
            upload_retention.forget(db, store.root, task_run_id)  # an imported labels file has served
        return status


def _run(db: Database, store: ArtifactStore, claimed: Claimed, hook: ProgressHook | None,
         fanout: tuple[FanoutSettings, Send] | None) -> str | None:
    run_id = claimed.run.id
    reporter = ProgressReporter(db, claimed, hook)
    try:
        reporter.report("starting", 0.0)
        run_type = run_types.get(claimed.run.type)
        outcome = run_type.resolve_handler()(RunContext(db, store, claimed, reporter, fanout))
        try:
            reporter.report("publishing", 0.99)  # last cooperative check before anything becomes visible
            output = _publish(store, run_id, outcome, run_type.output)
        finally:
            _discard_deferred(outcome)
        if run_state.succeed(db, run_id, output, run_type.output_format, outcome.apply):
            return RunStatus.SUCCEEDED
        _discard(store, run_id)  # cancelled while publishing
        run_state.end(db, run_id, RunStatus.STOPPED, None, expect=(RunStatus.STOPPING,))
    except Cancelled:
        _discard(store, run_id)
        run_state.end(db, run_id, RunStatus.STOPPED)
    except TimedOut:
        _discard(store, run_id)
        run_state.end(db, run_id, RunStatus.TIMEOUT, f"timed out after {claimed.run.timeout_minutes} minutes")
    except (MatcherError, ServiceError) as exc:
        _discard(store, run_id)
        run_state.end(db, run_id, RunStatus.FAILED, str(exc))
    except BaseException:
        _discard(store, run_id)
        raise
    return run_state.status(db, run_id)


def _publish(store: ArtifactStore, run_id: str, outcome: Outcome, main: str) -> str:
    """Write every file (each atomically); returns the main output's path relative to the data directory."""
    if main not in outcome.files:
        raise RuntimeError(f"task run {run_id}: its handler did not produce {main}, the type's registered output")
    directory = store.output_dir(run_id)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(outcome.files.items(), key=lambda item: _deferred(item[1])):  # deferred last
        target = store.output_path(run_id, name)
        if _deferred(content):
            content = content.resolve()
        if isinstance(content, pd.DataFrame | pa.Table):
            write_table(content, target)
        elif isinstance(content, bytes):
            store.publish(content, target)
        else:
            store.publish(json.dumps(jsonable(content), indent=2).encode("utf-8"), target)
    return store.output_path(run_id, main).relative_to(store.root).as_posix()


def _deferred(content: FileContent) -> TypeGuard[Deferred]:
    """Deferred content (``RunContext.Deferred``) is written last: others are written while it is computed."""
    return not isinstance(content, pd.DataFrame | pa.Table | dict | bytes)


def _discard_deferred(outcome: Outcome) -> None:
    for content in outcome.files.values():
        if _deferred(content):
            content.discard()


def _discard(store: ArtifactStore, run_id: str) -> None:
    shutil.rmtree(store.output_dir(run_id), ignore_errors=True)
