"""The Celery application that executes task runs.

``make_celery(config)`` builds an app for one service configuration; the module attribute ``app`` is built from
the environment (MATCHER_DATA_DIR, MATCHER_BROKER_URL, ...) so that ``celery -A workers.celery_app worker`` and
``celery -A workers.celery_app flower`` work on the same app as ``matcher worker``.

Delivery settings favour never losing a run over never running one twice (the engine makes a second execution
harmless): acks_late + reject_on_worker_lost re-deliver a message whose worker died, a prefetch of one keeps
other runs free for other workers while a long run executes. The embedded broker (kombu's SQLAlchemy transport
on SQLite) does not re-deliver after a hard crash by itself; ``workers.recovery`` covers that.
"""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from services.config import Config

TASK_QUEUE = "matcher"
TASK_NAME = "matcher.execute_task_run"
PARTITION_TASK_NAME = "matcher.score_partition"  # one partition of a run's candidate scoring (services.fanout)


class MatcherCelery(Celery):
    """A Celery app that knows the service configuration its tasks run against."""

    matcher_config: Config


def _uses_sql_broker(url: str) -> bool:
    return url.startswith(("sqla+", "sqlalchemy+"))


def _ensure_sqlite_dir(url: str) -> None:
    """kombu and Celery create their SQLite files, not the directory they live in."""
    for prefix in ("sqla+sqlite:///", "sqlalchemy+sqlite:///", "db+sqlite:///"):
        if url.startswith(prefix) and len(url) > len(prefix):
            Path(url[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)


def make_celery(config: Config) -> MatcherCelery:
    for url in (config.broker_url, config.result_backend):
        _ensure_sqlite_dir(url)
    app = MatcherCelery("matcher", broker=config.broker_url, backend=config.result_backend,
                        include=["workers.tasks", "workers.recovery"])
    app.matcher_config = config
    app.conf.update(
        task_default_queue=TASK_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_expires=7 * 24 * 3600,
        broker_connection_retry_on_startup=True,
        # Monitoring events (Flower) need a broker with fanout; on the SQL broker they would only pile up rows.
        worker_send_task_events=not _uses_sql_broker(config.broker_url),
        task_send_sent_event=not _uses_sql_broker(config.broker_url),
        task_always_eager=config.eager,
    )
    if config.broker_url.startswith(("sqla+sqlite", "sqlalchemy+sqlite")):
        # Options of this transport go to create_engine: wait for the SQLite lock instead of failing at 5 s.
        app.conf.broker_transport_options = {"connect_args": {"timeout": 30}}
    return app


def declare_task_queue(config: Config) -> None:
    """Create the task queue once, before the processes that use it start: kombu's SQL transport creates a queue
    on first use by a select then an insert, so a worker and a web process doing it at once fail one of them
    (``UNIQUE constraint failed: kombu_queue.name``, a worker crash at ``matcher serve``'s start). Brokers with
    servers declare queues atomically: nothing to do."""
    if not _uses_sql_broker(config.broker_url):
        return
    app = make_celery(config)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_declare(queue=TASK_QUEUE)


def __getattr__(name: str) -> MatcherCelery:
    """``app``, built from the environment on first access (``celery -A workers.celery_app`` asks for it). Lazy so
    that the API process, which only dispatches with its own configuration, never builds an app it does not use
    (nor creates the default data directory as a side effect of an import)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = built = make_celery(Config.from_env())
    return built
