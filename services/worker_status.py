"""What ``matcher serve``'s supervisor knows about its Celery worker, shared with ``/healthz`` through a file.

The supervisor (``server.supervisor``) rewrites ``DATA_DIR/worker-status.json`` at least every
``HEARTBEAT`` seconds; every web process reads it. No file means no supervised worker (``--no-worker``, or
workers started elsewhere with ``matcher worker``): health then says nothing about workers. The worker counts as
live while its process runs and it is not crash-looping (``CRASH_LOOP`` exits in a row, each within a minute of
its start); a file not rewritten for ``STALE`` seconds means the supervisor itself is gone, so no live worker
either. ``/healthz`` answers 503 once there has been no live worker for more than ``GRACE`` seconds: long enough
for one restart after a kill, short enough for a load balancer or an orchestrator to notice an outage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "worker-status.json"
HEARTBEAT = 2.0
STALE = 10.0
GRACE = 15.0
CRASH_LOOP = 3


def path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write(data_dir: Path, status: dict[str, Any]) -> None:
    """Replace the file atomically (readers never see half of it); owner-only like the rest of the data dir."""
    target = path(data_dir)
    temporary = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(status, handle)
    os.replace(temporary, target)


def remove(data_dir: Path) -> None:
    path(data_dir).unlink(missing_ok=True)


def read(data_dir: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path(data_dir).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def assess(status: dict[str, Any] | None, now: float) -> tuple[bool, dict[str, Any]]:
    """(healthy, the ``worker`` part of ``/healthz``) from a status file's content at wall-clock time ``now``."""
    if status is None:
        return True, {"supervised": False}
    updated = float(status.get("updated_at") or 0.0)
    fresh = now - updated <= STALE
    alive = bool(fresh and status.get("alive") and int(status.get("consecutive_failures") or 0) < CRASH_LOOP)
    down_since = status.get("down_since") if fresh else (status.get("down_since") or updated)
    down_for = None if alive or down_since is None else round(max(now - float(down_since), 0.0), 1)
    worker = {"supervised": True, "alive": alive, "pid": status.get("pid") if alive else None,
              "restarts": int(status.get("restarts") or 0),
              "consecutive_failures": int(status.get("consecutive_failures") or 0),
              "last_exit": status.get("last_exit"), "down_for": down_for}
    if not fresh:
        worker["last_exit"] = "the supervisor (matcher serve) stopped reporting"
    return alive or (down_for is not None and down_for <= GRACE), worker
