"""The web process of ``matcher serve``: the Flask app (API and UI) under gunicorn.

Run by ``matcher serve`` as ``python -P -m server.web_server --bind HOST:PORT --data-dir DIR [--workers N]
[--access-log]``. ``-P`` and gunicorn's ``BaseApplication`` (which, unlike gunicorn's command line, neither
changes directory nor puts one on the import path) keep the directory ``matcher serve`` was started in off the
import path. Web workers are ``gthread`` workers: a slow upload or export occupies one thread, not a process,
and never trips gunicorn's worker timeout. The access log is off unless asked for: the UI polls run statuses
and ``/healthz`` is polled by monitors, so one line per request would drown everything else. When on, it
goes to stdout, which ``matcher serve`` joins to its stderr (its stdout carries only a first start's admin token).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

THREADS = 4
GRACEFUL_TIMEOUT = 10  # seconds a web worker may finish its requests after SIGTERM


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def options(bind: str, workers: int, access_log: bool) -> dict[str, Any]:
    return {"bind": bind, "workers": workers, "worker_class": "gthread", "threads": THREADS,
            "graceful_timeout": GRACEFUL_TIMEOUT, "timeout": 60, "errorlog": "-", "loglevel": "info",
            "accesslog": "-" if access_log else None, "proc_name": "matcher-web"}


class WebServer(BaseApplication):
    def __init__(self, settings: dict[str, Any], data_dir: str) -> None:
        self.settings = settings
        self.data_dir = data_dir
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25: no socket in ~/.gunicorn to share
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        """Called in each web worker after the fork: every worker has its own database engine. The modules are
        imported by ``main`` before gunicorn listens: a worker is ready at once, and no request waits in the
        listen backlog for seconds while two workers import pandas at the same time."""
        from labeling_ui import create_app
        from services.config import Config

        return create_app(Config.from_env(self.data_dir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.web_server")
    parser.add_argument("--bind", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    import labeling_ui  # noqa: F401 (imported once before the fork, not by each web worker while clients wait)

    WebServer(options(args.bind, args.workers, args.access_log), args.data_dir).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
