"""Service verbs of the ``matcher`` command for the engine side: ``matcher worker`` and ``matcher db``.

Both take ``--data-dir`` (else MATCHER_DATA_DIR, else ~/.matcher) and read the rest of the configuration from
the environment (services.config), so a worker and the web process started with the same settings share one
database, broker and data directory.
"""

from __future__ import annotations

import argparse
import os
import sys

from services.config import Config


def register(verbs: argparse._SubParsersAction) -> None:
    worker = verbs.add_parser("worker", help="run a Celery worker that executes task runs")
    worker.add_argument("--data-dir", help="data directory (default: $MATCHER_DATA_DIR or ~/.matcher)")
    worker.add_argument("--concurrency", type=int, default=1,
                        help="task runs executed at once (default 1; each may use a core and GBs of memory)")
    worker.add_argument("--queues", default=None, help="comma-separated queues to consume (default: matcher)")
    worker.add_argument("--pool", default=None, help="Celery pool: prefork (default), solo, threads")
    worker.add_argument("--loglevel", default="info", help="Celery log level (default info)")
    worker.set_defaults(run=run_worker, quiet=False)

    db = verbs.add_parser("db", help="create or migrate the service database")
    db.add_argument("action", choices=("upgrade", "downgrade", "current"))
    db.add_argument("revision", nargs="?", help="target revision: upgrade defaults to head; downgrade needs one "
                                                "('base' drops every table)")
    db.add_argument("--data-dir", help="data directory (default: $MATCHER_DATA_DIR or ~/.matcher)")
    db.set_defaults(run=run_db, quiet=False)


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_env(args.data_dir)
    config.ensure_dirs()
    os.environ["MATCHER_DATA_DIR"] = str(config.data_dir)  # pool processes and anything they spawn agree
    return config


def worker_argv(args: argparse.Namespace, config: Config) -> list[str]:
    from workers.celery_app import TASK_QUEUE

    argv = ["worker", f"--concurrency={args.concurrency}", f"--queues={args.queues or TASK_QUEUE}",
            f"--loglevel={args.loglevel}"]
    if args.pool:
        argv.append(f"--pool={args.pool}")
    return argv


def run_worker(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        print("matcher: error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    config = _config(args)
    from workers.celery_app import make_celery

    app = make_celery(config)
    app.worker_main(worker_argv(args, config))
    return 0


def run_db(args: argparse.Namespace) -> int:
    from storage import migrate

    config = _config(args)
    url = config.database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        if not args.revision:
            print("matcher: error: downgrade needs a revision ('base' drops every table)", file=sys.stderr)
            return 2
        migrate.downgrade(url, args.revision)
    print(f"{_safe(url)}: at revision {migrate.current(url) or 'none'} (newest: {migrate.head()})")
    return 0


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
