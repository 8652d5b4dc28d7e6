"""POST /datasets {database_url, table} through the REST API: only the databases the operator allows
(MATCHER_SOURCE_HOSTS, _DRIVERS, _SQLITE_DIR), within bounded timeouts, and the password never shown or stored.

PostgreSQL is the server this machine runs (a throw-away database, see db_support); SQLite sources are real
files. PostgreSQL here trusts local connections, so a URL with a password connects and the password can be
hunted for in everything the service keeps or answers.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from api_support import Api, files_in, is_problem, sqlite_api
from db_support import temporary_postgres_database
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from storage.models import Dataset, IdempotencyKey

PASSWORD = "s3cret-Pa55"  # noqa: S105 - what must never come back
ROWS = [(1, "Ann", "02139"), (2, "Bob", None), (3, "Cleo", "10001")]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A database holding ``customers`` and ``slow`` (a view that sleeps 3 s), with a password in its URL."""
    with temporary_postgres_database("matcher_test_sources") as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE customers (id INTEGER, name TEXT, zip TEXT)"))
            connection.execute(text("INSERT INTO customers VALUES (:id, :name, :zip)"),
                               [{"id": i, "name": n, "zip": z} for i, n, z in ROWS])
            connection.execute(text("CREATE VIEW slow AS SELECT pg_sleep(3)::text AS nap, 1 AS id"))
        engine.dispose()
        yield make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def sqlite_source(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, name TEXT, zip TEXT)")
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?)", ROWS)
    connection.close()
    return path


def post(api: Api, url: str, table: str = "customers", **extra: Any) -> Any:
    return api.call("POST", "/datasets", json={"database_url": url, "table": table}, **extra)


def refused(api: Api, url: str, fragment: str, status: int = 422, table: str = "customers") -> dict[str, Any]:
    before = api.call("GET", "/datasets").get_json()["datasets"]
    body = is_problem(post(api, url, table), status, "database_url")
    assert fragment in body["detail"], body["detail"]
    assert PASSWORD not in str(body)
    assert api.call("GET", "/datasets").get_json()["datasets"] == before
    return body


def test_an_allowed_postgres_host_gives_the_same_dataset_as_a_sqlite_file(tmp_path: Path, postgres_url: str,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    exports = tmp_path / "exports"
    api = sqlite_api(tmp_path / "service", source_hosts=("127.0.0.1:5432",), source_sqlite_dir=exports)
    from_postgres = post(api, postgres_url, headers={"Idempotency-Key": "k1"})
    assert from_postgres.status_code == 201, from_postgres.get_json()
    from_sqlite = post(api, f"sqlite:///{sqlite_source(exports / 'crm.sqlite')}")
    assert from_sqlite.status_code == 201, from_sqlite.get_json()
    pg, lite = from_postgres.get_json(), from_sqlite.get_json()
    assert (pg["columns"], pg["row_count"], pg["preview"]) == (lite["columns"], lite["row_count"], lite["preview"])
    assert pg["preview"][1] == {"id": "2", "name": "Bob", "zip": None} and pg["row_count"] == len(ROWS)
    database = make_url(postgres_url).database
    assert pg["source"] == f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}#customers"
    assert lite["source"] == f"sqlite:///{(exports / 'crm.sqlite').resolve()}#customers"

    shown = [from_postgres.get_data(as_text=True),
             api.call("GET", f"/datasets/{pg['id']}").get_data(as_text=True),
             api.call("GET", f"/datasets/{pg['id']}", api.labeler).get_data(as_text=True),
             api.call("GET", "/datasets", api.labeler).get_data(as_text=True),
             api.client.get(f"/datasets/{pg['id']}").get_data(as_text=True), caplog.text]
    with api.db.session() as session:
        shown += list(session.scalars(select(Dataset.source)))
        shown += [str(body) for body in session.scalars(select(IdempotencyKey.body))]
    assert pg["source"] in shown[1] and pg["source"] in shown[3]
    assert not [place for place in shown if PASSWORD in place]


def test_hosts_and_drivers_not_allowed_are_refused(tmp_path: Path, postgres_url: str) -> None:
    database = make_url(postgres_url).database
    off = sqlite_api(tmp_path / "off")
    refused(off, postgres_url, "MATCHER_SOURCE_HOSTS")  # the default: no database server at all
    api = sqlite_api(tmp_path / "on", source_hosts=("127.0.0.1:5432",), source_drivers=("postgresql", "mysql"))
    refused(api, f"postgresql+psycopg://postgres:{PASSWORD}@localhost:5432/{database}", "'localhost:5432' is not")
    refused(api, f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5433/{database}", "'127.0.0.1:5433' is not")
    refused(api, f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1/{database}?host=/tmp", "'host' is not allowed")
    refused(api, f"postgresql+psycopg:///{database}?password={PASSWORD}", "one host")
    body = refused(api, f"mssql+pyodbc://sa:{PASSWORD}@127.0.0.1:5432/crm", "'mssql+pyodbc' is not allowed")
    assert "postgresql, mysql" in body["detail"]
    refused(api, f"sqlite:///{tmp_path / 'x.sqlite'}", "SQLite sources are off")
    refused(api, f"not a url {PASSWORD}", "not a SQLAlchemy URL")


def test_a_driver_not_installed_is_a_422_naming_it(tmp_path: Path) -> None:
    api = sqlite_api(tmp_path, source_hosts=("127.0.0.1",), source_drivers=("postgresql", "mysql", "nosuchdb"))
    refused(api, f"mysql+pymysql://u:{PASSWORD}@127.0.0.1:3306/crm", "'mysql+pymysql' is not installed")
    refused(api, f"postgresql+psycopg2://u:{PASSWORD}@127.0.0.1/crm", "'postgresql+psycopg2' is not installed")
    refused(api, f"nosuchdb://u:{PASSWORD}@127.0.0.1/crm", "'nosuchdb' is not installed")
    refused(api, f"postgresql+pg8000://u:{PASSWORD}@127.0.0.1/crm", "cannot bound its timeouts")


def test_sqlite_files_only_from_under_the_allowed_directory_and_never_created(tmp_path: Path) -> None:
    exports, service = tmp_path / "exports", tmp_path / "service"
    api = sqlite_api(service, source_sqlite_dir=tmp_path)  # a careless operator: the service's data is under it
    outside = sqlite_source(tmp_path.parent / f"{tmp_path.name}-elsewhere" / "crm.sqlite")
    (exports / "link.sqlite").parent.mkdir()
    (exports / "link.sqlite").symlink_to(outside)
    (exports / "own.sqlite").symlink_to(service / "matcher.sqlite")
    before = files_in(tmp_path) + files_in(outside.parent)
    refused(api, f"sqlite:///{outside}", "read only from under")
    refused(api, f"sqlite:///{exports}/../../{outside.parent.name}/crm.sqlite", "read only from under")
    refused(api, f"sqlite:///{exports / 'link.sqlite'}", "read only from under")
    refused(api, f"sqlite:///{outside.parent / 'new.sqlite'}", "read only from under")
    refused(api, f"sqlite:///{exports / 'new.sqlite'}", "no SQLite file 'exports/new.sqlite'")
    refused(api, "sqlite:///exports/new.sqlite", "no SQLite file 'exports/new.sqlite'")
    refused(api, "sqlite://", "must name a SQLite file")
    refused(api, f"sqlite:///file:{exports / 'new.sqlite'}?mode=rwc&uri=true", "without options")
    for own in (service / "matcher.sqlite", exports / "own.sqlite", service / "datasets" / "x.parquet"):
        refused(api, f"sqlite:///{own}", "this service's own data")
    assert files_in(tmp_path) + files_in(outside.parent) == before  # nothing created, the service DB untouched
    sqlite_source(exports / "crm.sqlite")
    relative = post(api, "sqlite:///exports/crm.sqlite")  # relative to the allowed directory
    assert relative.status_code == 201, relative.get_json()
    assert relative.get_json()["row_count"] == len(ROWS)


def test_a_host_that_never_answers_fails_within_the_connect_timeout(tmp_path: Path) -> None:
    api = sqlite_api(tmp_path, source_hosts=("127.0.0.1",), source_connect_timeout=2)
    with socket.socket() as silent, socket.socket() as closed:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads or answers
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port, closed_port = silent.getsockname()[1], closed.getsockname()[1]
        started = time.monotonic()
        body = refused(api, f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:{port}/crm", "timeout", 504)
        elapsed = time.monotonic() - started
        assert body["detail"] == f"cannot connect to 127.0.0.1:{port} (timeout after 2 s)"
        assert elapsed < 10, elapsed  # the connect timeout, not the kernel's two minutes
        body = refused(api, f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:{closed_port}/crm", "refused")
        assert body["detail"] == f"cannot connect to 127.0.0.1:{closed_port} (refused)"


def test_a_read_longer_than_the_read_timeout_is_a_504(tmp_path: Path, postgres_url: str) -> None:
    api = sqlite_api(tmp_path, source_hosts=("127.0.0.1:5432",), source_read_timeout=1)
    started = time.monotonic()
    body = refused(api, postgres_url, "took longer than 1 s", 504, table="slow")
    assert time.monotonic() - started < 3  # the view sleeps 3 s: cancelled by statement_timeout before that
    assert body["detail"].startswith("reading table 'slow' from 127.0.0.1:5432")
    is_problem(post(api, postgres_url, "nope"), 422, "table")


def test_the_operator_allows_sources_with_environment_variables(tmp_path: Path, postgres_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_SOURCE_HOSTS", " db.example:5432, 127.0.0.1:5432 ")
    monkeypatch.setenv("MATCHER_SOURCE_DRIVERS", "postgresql+psycopg")
    monkeypatch.setenv("MATCHER_SOURCE_SQLITE_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("MATCHER_SOURCE_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("MATCHER_SOURCE_READ_TIMEOUT", "1")
    api = sqlite_api(tmp_path / "service")  # Config.from_env, as `matcher serve` makes it
    assert post(api, postgres_url).status_code == 201
    refused(api, postgres_url.replace("postgresql+psycopg", "postgresql+psycopg2"), "'postgresql+psycopg2' is not")
    refused(api, postgres_url, "took longer than 1 s", 504, table="slow")
    sqlite_source(tmp_path / "exports" / "crm.sqlite")
    assert post(api, "sqlite:///crm.sqlite").status_code == 201
    monkeypatch.setenv("MATCHER_SOURCE_HOSTS", "")  # set but empty: no server allowed
    refused(sqlite_api(tmp_path / "closed"), postgres_url, "MATCHER_SOURCE_HOSTS")
    monkeypatch.setenv("MATCHER_SOURCE_READ_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="MATCHER_SOURCE_READ_TIMEOUT must be a positive integer"):
        sqlite_api(tmp_path / "bad")


def test_the_dataset_pages_show_the_source_without_its_password(tmp_path: Path, postgres_url: str,
                                                                request: pytest.FixtureRequest) -> None:
    """What a labeler's browser renders (the pages fill themselves from the API) in headless Chromium."""
    from test_ui_browser import chromium
    from test_ui_roles_keyboard import signed_in

    api = sqlite_api(tmp_path, source_hosts=("127.0.0.1:5432",))
    dataset = post(api, postgres_url).get_json()
    server = make_server("127.0.0.1", 0, api.app, threaded=True)
    Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with chromium(request) as browser:
            page = signed_in(browser, base, api.labeler)
            page.goto(f"{base}/datasets/{dataset['id']}")
            page.locator("#dataset-meta", has_text=dataset["source"]).wait_for()
            assert PASSWORD not in page.content()
            page.goto(f"{base}/datasets")
            page.locator("#datasets-table td", has_text=dataset["source"]).wait_for()
            assert PASSWORD not in page.content()
    finally:
        server.shutdown()


def test_a_sqlite_read_longer_than_the_read_timeout_is_interrupted(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    with sqlite3.connect(sqlite_source(exports / "crm.sqlite")) as connection:  # counting to 10^9: minutes
        connection.execute("CREATE VIEW slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                           "WHERE x < 1000000000) SELECT count(*) AS n FROM c")
    connection.close()
    api = sqlite_api(tmp_path / "service", source_sqlite_dir=exports, source_read_timeout=1)
    started = time.monotonic()
    body = refused(api, "sqlite:///crm.sqlite", "reading table 'slow' from 'crm.sqlite' took longer than 1 s", 504,
                   table="slow")
    assert time.monotonic() - started < 5, body
    assert post(api, "sqlite:///crm.sqlite").status_code == 201  # a quick read is not hindered
