"""Alembic environment: migrates the tables of ``storage.models`` on SQLite (embedded) or PostgreSQL.

The URL comes, first match wins, from ``-x url=...`` on the alembic command line, the ``url`` attribute set by
``storage.migrate``, ``sqlalchemy.url`` in the ini, or MATCHER_DATABASE_URL. SQLite cannot ALTER most things,
so migrations run in batch mode there (copy-and-move tables), which later revisions rely on.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import make_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = (context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("url")
           or config.get_main_option("sqlalchemy.url") or os.environ.get("MATCHER_DATABASE_URL"))
    if not url:
        raise SystemExit("no database URL: pass `-x url=...` or set MATCHER_DATABASE_URL")
    return url


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) for a DBA to review and apply."""
    url = database_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"), dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _foreign_keys(connection, on=False)
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=sqlite, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    _refuse_dangling_references(connection)
            if sqlite:
                _foreign_keys(connection, on=True)
    finally:
        engine.dispose()


def _foreign_keys(connection: Connection, on: bool) -> None:
    """A batch migration copies a table, drops the original and renames the copy: with foreign keys enforced,
    dropping a referenced table (users, transforms) is refused or cascades into its children. The pragma only
    changes outside a transaction, hence the commit (nothing is pending: no migration has run yet)."""
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    connection.commit()


def _refuse_dangling_references(connection: Connection) -> None:
    """What the enforced foreign keys would have caught, checked once at the end (the transaction rolls back)."""
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if dangling:
        raise RuntimeError(f"migration left rows referencing missing parents: {dangling[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
