"""``matcher serve``: the web process, optionally with a worker subprocess (``matcher users``: server.users_cli)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services import datasets, transforms, users
from services.config import Config
from services.errors import ServiceError
from storage.db import Database
from storage.migrate import upgrade

DEMO_RECORDS = Path(__file__).resolve().parent.parent / "examples" / "people" / "records.csv"
DEMO_NAME = "people (demo)"
WORKER_APP = "workers.celery_app"


def register(verbs: Any) -> None:
    serve = verbs.add_parser("serve", help="run the REST API (and a worker) on one data directory")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--data-dir", help="data directory (default $MATCHER_DATA_DIR or ~/.matcher)")
    serve.add_argument("--no-worker", action="store_true", help="do not start a Celery worker subprocess")
    serve.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                       help="load examples/people and a demo transform into an empty database (default on)")
    serve.set_defaults(run=run_serve, quiet=False)


def migrate_database(config: Config) -> None:
    """Bring the schema to the newest version with the Alembic migrations."""
    upgrade(config.database_url)


def prepare(data_dir: str | None) -> tuple[Config, Database]:
    config = Config.from_env(data_dir)
    config.ensure_dirs()
    migrate_database(config)
    return config, Database(config.database_url)


def load_demo(config: Config, db: Database) -> str | None:
    """The people example and a transform on it, only into a database without datasets or transforms."""
    if not DEMO_RECORDS.is_file() or datasets.list_datasets(db) or transforms.list_transforms(db):
        return None
    with open(DEMO_RECORDS, "rb") as handle:
        dataset = datasets.create_from_upload(config, db, DEMO_RECORDS.name, handle, DEMO_NAME)
    info = transforms.create_transform(config, db, {"name": DEMO_NAME, "dataset_id": dataset.id,
                                                    "primary_key": "id"})
    return info.transform.id


def start_worker(config: Config) -> subprocess.Popen[bytes] | None:
    try:
        found = importlib.util.find_spec(WORKER_APP) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        print(f"matcher: warning: {WORKER_APP} not found; no worker started, task runs will wait",
              file=sys.stderr)
        return None
    command = [sys.executable, "-m", "celery", "-A", WORKER_APP, "worker", "--pool=solo", "-l", "warning"]
    return subprocess.Popen(command, env=dict(os.environ, MATCHER_DATA_DIR=str(config.data_dir)))


def stop_worker(worker: subprocess.Popen[bytes] | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so ``finally`` blocks (stopping the worker) run."""
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import run_simple

    from labeling_ui import create_app

    try:
        config, db = prepare(args.data_dir)
        _announce_admin(config, users.ensure_admin(config, db))
        if args.demo and load_demo(config, db):
            print(f"matcher: loaded the demo dataset and transform {DEMO_NAME!r}", file=sys.stderr)
    except ServiceError as exc:
        print(f"matcher: error: {exc.detail}", file=sys.stderr)
        return 2
    app = create_app(config)
    worker = None
    with sigterm_as_interrupt():
        try:
            worker = None if args.no_worker else start_worker(config)
            print(f"matcher: serving http://{args.host}:{args.port}/api/v1 (data dir {config.data_dir})",
                  file=sys.stderr, flush=True)
            run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)
        except KeyboardInterrupt:
            pass
        finally:
            stop_worker(worker)
    return 0


def _announce_admin(config: Config, token: str | None) -> None:
    if token is None:
        return
    print(f"matcher: created user 'admin'; its API token (shown once, also in "
          f"{config.data_dir / users.ADMIN_TOKEN_FILE}, mode 0600):", file=sys.stderr)
    print(token, flush=True)
