"""The web process: the REST API (``/api/v1``) and the web labeling UI (``/``). ``create_app`` is the factory."""

from __future__ import annotations

import os
from collections.abc import Callable

from flask import Flask, Response
from werkzeug.exceptions import RequestEntityTooLarge

from labeling_ui.api import bp
from labeling_ui.errors import problem, register_error_handlers
from labeling_ui.extensions import matcher_services
from labeling_ui.health import healthz
from labeling_ui.pages import bp as pages_bp
from labeling_ui.security import register_security_headers
from labeling_ui.users_api import bp as users_bp
from labeling_ui.workforce_api import bp as _routes_on_api  # noqa: F401  (registers its routes on bp)
from services.config import Config
from services.task_runs import Dispatch, Revoke

DEFAULT_MAX_UPLOAD_MB = 2048


def create_app(config: Config | None = None, dispatch: Dispatch | None = None,
               revoke: Revoke | None = None) -> Flask:
    """Build the app. ``dispatch``/``revoke`` (how the services reach the queue) default to ``workers.dispatch``'s,
    imported on first use; tests pass fakes."""
    config = config or Config.from_env()
    config.ensure_dirs()
    app = Flask(__name__)
    max_mb = int(os.environ.get("MATCHER_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB))
    app.config.update(MAX_CONTENT_LENGTH=max_mb * 1024 * 1024)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    matcher_services.init_app(app, config, dispatch or _enqueue, revoke or _revoke)
    register_error_handlers(app)
    app.register_error_handler(RequestEntityTooLarge, _too_large(max_mb))
    register_security_headers(app)
    app.register_blueprint(bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(pages_bp)
    app.add_url_rule("/healthz", "healthz", healthz)
    return app


def _enqueue(config: Config, task_run_id: str) -> str:
    from workers.dispatch import enqueue  # lazy: the web process loads Celery when it first queues a run

    return enqueue(config, task_run_id)


def _revoke(config: Config, celery_task_id: str) -> None:
    from workers.dispatch import revoke

    revoke(config, celery_task_id)


def _too_large(max_mb: int) -> Callable[[RequestEntityTooLarge], Response]:
    """Werkzeug refuses a body over MAX_CONTENT_LENGTH from its Content-Length before reading it (or as soon as
    a chunked body passes it); its message does not say what the limit is."""

    def handle(_: RequestEntityTooLarge) -> Response:
        return problem(413, "Payload too large", f"the upload is larger than the limit of {max_mb:,} MB; an "
                       "administrator can raise it with MATCHER_MAX_UPLOAD_MB", "urn:matcher:problem:too-large",
                       field="file")

    return handle
