"""Alembic environment: migrates the tables of ``storage.models`` on SQLite (embedded) or PostgreSQL.

The URL comes, first match wins, from ``-x url=...`` on the alembic command line, the ``url`` attribute set by
``storage.migrate``, ``sqlalchemy.url`` in the ini, or MATCHER_DATABASE_URL. SQLite cannot ALTER most things,
so migrations run in batch mode there (copy-and-move tables), which later revisions rely on.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context

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
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
