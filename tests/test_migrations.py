"""Alembic migrations: upgrade -> downgrade -> upgrade on SQLite and PostgreSQL, and the migrated schema is
exactly what storage.models describes (so autogenerate would find nothing to add)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from db_support import temporary_postgres_database
from sqlalchemy import inspect

from server.cli import main
from storage import migrate
from storage.db import make_engine
from storage.models import Base


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with temporary_postgres_database("matcher_test_migrations") as url:
        yield url


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def schema_drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def round_trip(url: str) -> None:
    models = set(Base.metadata.tables)
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head() == "0009"
    assert tables(url) == models | {"alembic_version"}
    assert schema_drift(url) == []
    migrate.downgrade(url)
    assert migrate.current(url) is None
    assert tables(url) == {"alembic_version"}
    migrate.upgrade(url)
    assert tables(url) == models | {"alembic_version"} and schema_drift(url) == []


def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    round_trip(f"sqlite:///{tmp_path / 'fresh' / 'matcher.sqlite'}")  # the directory does not exist yet


def test_round_trip_on_postgres(postgres_url: str) -> None:
    round_trip(postgres_url)


def test_db_verbs_migrate_the_configured_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("MATCHER_DATABASE_URL", "MATCHER_BROKER_URL", "MATCHER_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MATCHER_DATA_DIR", str(tmp_path / "unused"))  # --data-dir wins; restored afterwards
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir.resolve() / 'matcher.sqlite'}"

    assert main(["db", "upgrade", "--data-dir", str(data_dir)]) == 0
    assert migrate.current(url) == "0009" and (data_dir / "uploads").is_dir()
    assert main(["db", "current", "--data-dir", str(data_dir)]) == 0
    assert "at revision 0009" in capsys.readouterr().out
    assert main(["db", "downgrade", "--data-dir", str(data_dir)]) == 2  # dropping everything must be explicit
    assert main(["db", "downgrade", "base", "--data-dir", str(data_dir)]) == 0
    assert migrate.current(url) is None


def test_the_root_ini_and_the_shipped_ini_point_at_the_same_scripts() -> None:
    from alembic.config import Config as AlembicConfig

    root = AlembicConfig(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    shipped = AlembicConfig(str(migrate.INI_PATH))
    assert Path(root.get_main_option("script_location")).resolve() == \
        Path(shipped.get_main_option("script_location")).resolve()


def _transform_at_0001(url: str, one_to_one: bool) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO datasets (id, name, source, artifact, columns, column_types, row_count, created_at) "
                "VALUES ('d', 'people', 'people.csv', 'd.parquet', '[]', '{}', 1, CURRENT_TIMESTAMP)"))
            connection.execute(sa.text(
                "INSERT INTO transforms (id, name, dataset_id, primary_key, precision_recall_tradeoff, "
                "accuracy_cost_tradeoff, enforce_provided_labels, one_to_one, timeout_minutes, max_retries, "
                "created_at, updated_at) VALUES ('t', 't', 'd', 'id', 0.5, 0.5, false, :one, 60, 3, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"one": one_to_one})
    finally:
        engine.dispose()


def _one_to_one(url: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT one_to_one FROM transforms")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize(("stored", "after"), [(False, None), (True, True)])
def test_0002_lets_the_engine_decide_one_to_one_where_the_old_default_was_stored(
        tmp_path: Path, stored: bool, after: bool | None) -> None:
    """False was the old default, never a choice a new user made: it becomes NULL (decided from the data and
    labels); True stays; a downgrade turns NULL back into False."""
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    migrate.upgrade(url, "0001")
    _transform_at_0001(url, stored)
    migrate.upgrade(url)
    assert _one_to_one(url) == after
    migrate.downgrade(url, "0001")
    assert bool(_one_to_one(url)) is stored


def _rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0003_moves_each_users_token_into_api_tokens_and_back(tmp_path: Path, backend: str,
                                                               request: pytest.FixtureRequest) -> None:
    """The token that worked before still works (same hash, no expiry), rows referencing the users survive the
    table's rebuild on SQLite, and a downgrade puts the newest usable token back."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'm.sqlite'}"
    migrate.upgrade(url, "0002")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO users (id, name, role, token_hash, created_at) VALUES "
                                       "('u1', 'alice', 'admin', 'hash-a', CURRENT_TIMESTAMP), "
                                       "('u2', 'lena', 'labeler', 'hash-l', CURRENT_TIMESTAMP)"))
            connection.execute(sa.text(
                "INSERT INTO datasets (id, name, source, artifact, columns, column_types, row_count, created_by, "
                "created_at) VALUES ('d', 'people', 'p.csv', 'd.parquet', '[]', '{}', 1, 'u1', CURRENT_TIMESTAMP)"))
    finally:
        engine.dispose()
    migrate.upgrade(url)
    assert sorted(_rows(url, "SELECT user_id, token_hash, name, expires_at, revoked_at FROM api_tokens")) == [
        ("u1", "hash-a", "migrated", None, None), ("u2", "hash-l", "migrated", None, None)]
    assert _rows(url, "SELECT id, disabled_at FROM users ORDER BY id") == [("u1", None), ("u2", None)]
    assert _rows(url, "SELECT created_by FROM datasets") == [("u1",)]
    assert schema_drift(url) == []

    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:  # lena's token rotated: the new one is what a downgrade keeps
            connection.execute(sa.text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE user_id = 'u2'"))
            connection.execute(sa.text("INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) VALUES "
                                       "('t9', 'u2', 'hash-new', 'rotated', CURRENT_TIMESTAMP)"))
    finally:
        engine.dispose()
    migrate.downgrade(url, "0002")
    assert _rows(url, "SELECT id, token_hash FROM users ORDER BY id") == [("u1", "hash-a"), ("u2", "hash-new")]
    assert _rows(url, "SELECT created_by FROM datasets") == [("u1",)]
    assert "api_tokens" not in tables(url)


def test_0004_removes_credentials_from_the_sources_of_database_tables(tmp_path: Path) -> None:
    """A password in the query string (which older versions kept) or masked in the user part goes; an upload's
    file name, even one with '://', stays."""
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    migrate.upgrade(url, "0003")
    sources = {"a": "postgresql+psycopg://crm:***@db.internal:5433/crm?password=hunter2&sslmode=require#public.people",
               "b": "mysql+pymysql://ro@dw/sales?charset=utf8mb4#customers",
               "c": "sqlite:////srv/exports/crm.sqlite#customers", "d": "people.csv", "e": "odd://name.csv"}
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for dataset_id, source in sources.items():
                connection.execute(sa.text(
                    "INSERT INTO datasets (id, name, source, artifact, columns, column_types, row_count, created_at) "
                    "VALUES (:id, 'd', :source, 'd.parquet', '[]', '{}', 1, CURRENT_TIMESTAMP)"),
                    {"id": dataset_id, "source": source})
    finally:
        engine.dispose()
    migrate.upgrade(url)
    assert dict(_rows(url, "SELECT id, source FROM datasets")) == {
        "a": "postgresql+psycopg://crm@db.internal:5433/crm#public.people",
        "b": "mysql+pymysql://ro@dw/sales#customers", "c": "sqlite:////srv/exports/crm.sqlite#customers",
        "d": "people.csv", "e": "odd://name.csv"}
    migrate.downgrade(url, "0003")
    assert "hunter2" not in str(_rows(url, "SELECT source FROM datasets"))
