"""Schema migrations through Alembic's command API, usable from code (`matcher db ...`, tests, the web app).

The Alembic scripts ship inside this package (``storage/alembic.ini`` + ``storage/alembic/``) so an installed
wheel can migrate its own database; the repository-root ``alembic.ini`` points at the same scripts for
developers who prefer the ``alembic`` command.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import make_engine

INI_PATH = Path(__file__).resolve().parent / "alembic.ini"


def alembic_config(url: str) -> AlembicConfig:
    """The shipped configuration bound to ``url``; the application's logging setup is left alone."""
    config = AlembicConfig(str(INI_PATH))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
        return Path(url[len(prefix):])
    return None


def _ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file but not its directory: a fresh data dir must work on first `db upgrade`."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> None:
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrading to ``base`` drops every table (and its data)."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (None: never migrated; a missing SQLite file is not created)."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision the shipped scripts know."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
