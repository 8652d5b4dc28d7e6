"""How long an uploaded file lives under DATA_DIR/uploads: only until its work is done.

A dataset upload is deleted by the request that converts it (``services.datasets``). A labels file waits for
its IMPORT_LABELS run: it is deleted when the run ends (succeeded, failed, stopped or timed out: a re-delivered
run still finds it), when the queue refuses the run, and with its transform. ``prune`` is the safety net the
workers' recovery sweep runs: a file older than ``PRUNE_AFTER`` that no active run refers to is removed
(files of crashed requests, of runs failed by the Celery backstop, of versions that kept everything).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from matcher.errors import shown
from services import run_types
from services.errors import NotFound, ValidationError
from storage.db import Database
from storage.models import TaskRun
from storage.run_status import ACTIVE, TERMINAL

log = logging.getLogger(__name__)

IMPORT_TYPE = run_types.IMPORT_LABELS.name
PRUNE_AFTER = 3600.0  # seconds: far longer than a request validating a large file takes


def uploads_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "uploads"


def resolve_upload(data_dir: Path, value: object) -> Path:
    """An uploaded file, given as an absolute path or relative to the data directory or to its ``uploads``;
    anything outside ``uploads`` is refused so a run cannot read arbitrary files of the worker."""
    if not isinstance(value, str) or not value:
        raise ValidationError("path of the uploaded labels file is required", field="path")
    uploads = uploads_dir(data_dir).resolve()
    given = Path(value)
    candidates = [given] if given.is_absolute() else [Path(data_dir) / given, uploads / given]
    inside = [c.resolve() for c in candidates if c.resolve().is_relative_to(uploads)]
    if not inside:
        raise ValidationError(f"labels file {shown(value)} is not under the uploads directory", field="path")
    for candidate in inside:
        if candidate.is_file():
            return candidate
    raise NotFound(f"uploaded labels file {shown(value)} not found")


def discard(data_dir: Path, params: Mapping[str, Any] | None) -> bool:
    """Delete the upload a run's params name (only ever inside ``uploads``); False when there is none."""
    try:
        path = resolve_upload(data_dir, (params or {}).get("path"))
    except (NotFound, ValidationError):
        return False
    path.unlink(missing_ok=True)
    return True


def forget(db: Database, data_dir: Path, run_id: str) -> bool:
    """Once an IMPORT_LABELS run has ended, its labels file is no longer needed."""
    with db.session() as session:
        run = session.get(TaskRun, run_id)
        if run is None or run.type != IMPORT_TYPE or run.status not in TERMINAL:
            return False
        params = dict(run.params or {})
    return discard(data_dir, params)


def discard_all(data_dir: Path, runs: Iterable[Mapping[str, Any] | None]) -> int:
    """The uploads of several runs (a deleted transform's); returns how many files went."""
    return sum(discard(data_dir, params) for params in runs)


def prune(db: Database, data_dir: Path, older_than: float = PRUNE_AFTER) -> int:
    """Remove uploads older than ``older_than`` seconds that no active run refers to; returns how many."""
    folder = uploads_dir(data_dir)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    old = [p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
    if not old:
        return 0
    with db.session() as session:
        active = [dict(params or {}) for params in session.scalars(
            select(TaskRun.params).where(TaskRun.type == IMPORT_TYPE, TaskRun.status.in_(ACTIVE)))]
    needed = set()
    for params in active:
        try:
            needed.add(resolve_upload(data_dir, params.get("path")))
        except (NotFound, ValidationError):
            continue
    removed = 0
    for path in old:
        if path.resolve() not in needed:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d upload(s) older than %.0f s that no active run needs", removed, older_than)
    return removed
