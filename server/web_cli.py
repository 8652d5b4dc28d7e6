"""``matcher serve`` (gunicorn and a supervised worker: ``server.serve``); ``matcher users``: server.users_cli."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services import datasets, transforms, users
from services.config import Config
from services.errors import ServiceError
from storage.db import Database
from storage.migrate import upgrade

DEMO_RECORDS = Path(__file__).resolve().parent.parent / "examples" / "people" / "records.csv"
DEMO_NAME = "people (demo)"


def register(verbs: Any) -> None:
    serve = verbs.add_parser("serve", help="run the REST API (and a worker) on one data directory")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--data-dir", help="data directory (default $MATCHER_DATA_DIR or ~/.matcher)")
    serve.add_argument("--no-worker", action="store_true", help="do not start a Celery worker subprocess")
    serve.add_argument("--web-workers", type=int, default=2,
                       help="gunicorn worker processes for the API and UI (default 2, 4 threads each)")
    serve.add_argument("--access-log", action="store_true",
                       help="log every request on stderr (off by default: the UI polls run statuses)")
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


def run_serve(args: argparse.Namespace) -> int:
    from server import serve

    if args.web_workers < 1:
        print("matcher: error: --web-workers must be at least 1", file=sys.stderr)
        return 2
    try:
        config, db = prepare(args.data_dir)
        _announce_admin(config, users.ensure_admin(config, db))
        if args.demo and load_demo(config, db):
            print(f"matcher: loaded the demo dataset and transform {DEMO_NAME!r}", file=sys.stderr)
    except ServiceError as exc:
        print(f"matcher: error: {exc.detail}", file=sys.stderr)
        return 2
    db.engine.dispose()  # the web and worker processes open their own connections
    from workers.celery_app import declare_task_queue

    declare_task_queue(config)
    return serve.run(config, args.host, args.port, args.web_workers, args.access_log, not args.no_worker)


def _announce_admin(config: Config, token: str | None) -> None:
    if token is None:
        return
    print(f"matcher: created user 'admin'; its API token (shown once, also in "
          f"{config.data_dir / users.ADMIN_TOKEN_FILE}, mode 0600):", file=sys.stderr)
    print(token, flush=True)
