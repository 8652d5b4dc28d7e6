"""``GET /healthz`` (no authentication): the database, the supervised worker and the task queue.

``{"status": "ok"|"degraded"|"unavailable", "database": "ok", "worker": {...}, "queue": {"depth": n}}``:
200 when ok; 503 when the database does not answer ("unavailable") or when ``matcher serve``'s worker has
not been live for more than ``services.worker_status.GRACE`` seconds ("degraded"). ``worker`` is
``{"supervised": false}`` when no worker is supervised here (``--no-worker``, workers run elsewhere). The queue
depth (messages waiting; null until first measured or when the broker cannot tell) is measured in the
background at most every ``DEPTH_TTL`` seconds per process: frequent polling costs one broker round trip every
few seconds, and a slow broker never makes the health check itself slow.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import jsonify
from sqlalchemy import text

from labeling_ui.extensions import matcher_services
from services import worker_status
from services.config import Config

DEPTH_TTL = 2.0


@dataclass
class _Depth:
    value: int | None = None
    checked: float = float("-inf")
    refreshing: bool = False


_depths: dict[Config, _Depth] = {}
_lock = threading.Lock()


def queue_depth(config: Config) -> int | None:
    """The last depth measured (None until the first measure). Measured in a background thread: a broker that
    is slow or busy (the embedded SQLite broker at start-up) never holds up a health check."""
    with _lock:
        depth = _depths.setdefault(config, _Depth())
        if not depth.refreshing and time.monotonic() - depth.checked >= DEPTH_TTL:
            depth.refreshing = True
            threading.Thread(target=_measure, args=(config, depth), name="matcher-queue-depth", daemon=True).start()
        return depth.value


def _measure(config: Config, depth: _Depth) -> None:
    try:
        from workers.dispatch import app_for, queued_messages  # lazy: health answers even without Celery

        value = queued_messages(app_for(config), warn=False)
    except Exception:  # noqa: BLE001 (no broker, no Celery: health still answers)
        value = None
    with _lock:
        depth.value, depth.checked, depth.refreshing = value, time.monotonic(), False


def healthz() -> Any:
    try:
        with matcher_services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        return jsonify({"status": "unavailable", "database": type(exc).__name__}), 503
    config = matcher_services.config
    healthy, worker = worker_status.assess(worker_status.read(config.data_dir), time.time())
    body = {"status": "ok" if healthy else "degraded", "database": "ok", "worker": worker,
            "queue": {"depth": queue_depth(config)}}
    return jsonify(body), 200 if healthy else 503
