"""``GET /healthz`` (no authentication): the database, the supervised worker and the task queue.

``{"status": "ok"|"degraded"|"unavailable", "database": "ok", "worker": {...}, "queue": {"depth": n}}``:
200 when ok; 503 when the database does not answer ("unavailable") or when ``matcher serve``'s worker has
not been live for more than ``services.worker_status.GRACE`` seconds ("degraded"). ``worker`` is
``{"supervised": false}`` when no worker is supervised here (``--no-worker``, workers run elsewhere). The queue
depth (messages waiting, null when the broker cannot tell) is cached for ``DEPTH_TTL`` seconds per process, so
frequent polling costs one broker round trip every few seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import jsonify
from sqlalchemy import text

from labeling_ui.extensions import matcher_services
from services import worker_status
from services.config import Config

DEPTH_TTL = 2.0
_depth_cache: dict[Config, tuple[float, int | None]] = {}
_depth_lock = threading.Lock()


def queue_depth(config: Config) -> int | None:
    now = time.monotonic()
    with _depth_lock:
        cached = _depth_cache.get(config)
        if cached is not None and now - cached[0] < DEPTH_TTL:
            return cached[1]
    try:
        from workers.dispatch import app_for, queued_messages  # lazy: the web layer needs Celery only here

        depth = queued_messages(app_for(config))
    except Exception:  # noqa: BLE001 (no broker, no Celery: health still answers)
        depth = None
    with _depth_lock:
        _depth_cache[config] = (now, depth)
    return depth


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
