"""The databases a dataset may be copied from (POST /datasets {database_url, table}), and how.

The server connects, not the caller, so the operator decides where it may reach: database servers whose
host[:port] matches MATCHER_SOURCE_HOSTS through a driver in MATCHER_SOURCE_DRIVERS, and SQLite files under
MATCHER_SOURCE_SQLITE_DIR (opened read-only, never the service's own). Both are off by default. Connecting and
reading are bounded (MATCHER_SOURCE_CONNECT_TIMEOUT, _READ_TIMEOUT). No message here echoes the URL as sent:
errors name the driver, host:port, file or table, so a password never reaches a response, a log or the
dataset's stored source.
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from matcher.errors import shown
from services.config import Config
from services.errors import GatewayTimeout, ValidationError

FIELD = "database_url"
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
SAFE_QUERY = ("charset", "sslmode")  # anything else could point the driver elsewhere (host=, unix_socket=, ...)
SQLITE_STEPS = 10_000  # SQLite virtual-machine steps between two looks at the read deadline


@dataclass(frozen=True)
class Source:
    engine: Engine
    target: str  # "host:port" or the SQLite file, as errors name it
    shown: str  # the URL without password or query: the dataset's source
    password: str | None  # only to scrub it from a driver's message


def _libpq(config: Config) -> dict[str, Any]:
    # connect_timeout covers the whole start-up, a host that accepts and never answers too; the read is bounded
    # by statement_timeout, set once connected (_bound_statements): a startup "options" packet is refused by
    # PgBouncer
    return {"connect_timeout": config.source_connect_timeout}


def _mysql(config: Config) -> dict[str, Any]:
    return {"connect_timeout": config.source_connect_timeout, "read_timeout": config.source_read_timeout,
            "write_timeout": config.source_read_timeout}


# DBAPI modules whose timeouts we know how to set; any other could block a web thread for minutes
TIMEOUT_ARGS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "psycopg": _libpq, "psycopg2": _libpq, "pymysql": _mysql, "mysqldb": _mysql, "mariadbconnector": _mysql}


def open_source(config: Config, text: str) -> Source:
    """The engine for ``text``, a SQLAlchemy URL, once the operator's configuration allows it (422 if not)."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # their messages quote the URL, password included
        raise ValidationError("database_url is not a SQLAlchemy URL (dialect+driver://user@host:port/database)",
                              field=FIELD) from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_source(config, url)
    return _server_source(config, url)


def read_table(config: Config, source: Source, table: str, schema: str | None) -> pd.DataFrame:
    try:
        with _connect(config, source) as connection:
            if not inspect(connection).has_table(table, schema=schema):
                raise ValidationError(f"table {shown(table)} not found in that database", field="table")
            return pd.read_sql_table(table, connection, schema=schema)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:  # pandas wraps the error of its query
        if _is_timeout(exc) or _says(exc, "statement timeout", "interrupted"):
            raise GatewayTimeout(f"reading table {shown(table)} from {source.target} took longer than "
                                 f"{config.source_read_timeout} s (MATCHER_SOURCE_READ_TIMEOUT)",
                                 field=FIELD) from None
        raise ValidationError(f"cannot read table {shown(table)} from {source.target}: "
                              f"{_driver_message(exc, source)}", field=FIELD) from None
    finally:
        source.engine.dispose()


# -- database servers ---------------------------------------------------------------------------------------


def _server_source(config: Config, url: URL) -> Source:
    target = _allowed_server(config, url)
    engine = create_engine(url, connect_args=_timeout_args(config, url), poolclass=NullPool)
    if url.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _bound_statements(config))
    # built anew: URL.set(password=None) leaves the password as it was
    public = URL.create(url.drivername, url.username, None, url.host, url.port, url.database).render_as_string()
    return Source(engine, target, public, url.password)


def _allowed_server(config: Config, url: URL) -> str:
    """``host:port`` once the driver, the host and the URL's options pass the operator's lists."""
    driver = url.drivername
    if url.get_backend_name() not in config.source_drivers and driver not in config.source_drivers:
        allowed = ", ".join(config.source_drivers) or "none"
        raise ValidationError(f"driver {shown(driver)} is not allowed here (MATCHER_SOURCE_DRIVERS: {allowed})",
                              field=FIELD)
    if not config.source_hosts:
        raise ValidationError("copying tables from database servers is off on this server: the operator allows "
                              "hosts with MATCHER_SOURCE_HOSTS", field=FIELD)
    if not url.host or re.search(r"[,/\s]", url.host):
        raise ValidationError("database_url must name one host (dialect+driver://user@host:port/database)",
                              field=FIELD)
    port = url.port or DEFAULT_PORTS.get(url.get_backend_name())
    target = f"{url.host}:{port}" if port else url.host
    if not any(_host_matches(pattern, url.host, port) for pattern in config.source_hosts):
        raise ValidationError(f"host {shown(target)} is not allowed here (MATCHER_SOURCE_HOSTS)", field=FIELD)
    unsafe = sorted(set(url.query) - set(SAFE_QUERY))
    if unsafe:
        raise ValidationError(f"query parameter {shown(unsafe[0])} is not allowed in database_url "
                              f"(allowed: {', '.join(SAFE_QUERY)})", field=FIELD)
    return target


def _timeout_args(config: Config, url: URL) -> dict[str, Any]:
    """The DBAPI's timeout arguments; 422 when its dialect or module is not installed here."""
    driver = url.drivername
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValidationError(f"driver {shown(driver)} is not installed on this server", field=FIELD) from None
    timeouts = TIMEOUT_ARGS.get(dialect.driver)
    if timeouts is None:
        raise ValidationError(f"driver {shown(driver)} is not supported: this server cannot bound its timeouts "
                              f"(supported DBAPIs: {', '.join(TIMEOUT_ARGS)})", field=FIELD)
    try:
        dialect.import_dbapi()
    except ImportError:
        raise ValidationError(f"driver {shown(driver)} is not installed on this server (its Python module "
                              f"{shown(dialect.driver)} is missing)", field=FIELD) from None
    return timeouts(config)


def _bound_statements(config: Config) -> Callable[[Any, Any], None]:
    def set_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {config.source_read_timeout * 1000}")
        cursor.close()
        dbapi_connection.commit()  # else the pool's rollback would undo it

    return set_timeout


def _host_matches(pattern: str, host: str, port: int | None) -> bool:
    """``pattern`` is host[:port] (``[v6]:port`` for IPv6), fnmatch-style, case-insensitive; no port: any."""
    wanted_port: str | None = None
    if pattern.startswith("["):
        wanted_host, _, rest = pattern[1:].partition("]")
        wanted_port = rest[1:] if rest.startswith(":") else None
    elif pattern.count(":") == 1:
        wanted_host, wanted_port = pattern.split(":")
    else:
        wanted_host = pattern
    if not fnmatch.fnmatchcase(host.lower(), wanted_host.lower()):
        return False
    return wanted_port in (None, "", "*") or wanted_port == str(port)


# -- SQLite files -------------------------------------------------------------------------------------------


def _sqlite_source(config: Config, url: URL) -> Source:
    if config.source_sqlite_dir is None:
        raise ValidationError("SQLite sources are off on this server: the operator allows a directory with "
                              "MATCHER_SOURCE_SQLITE_DIR", field=FIELD)
    if url.drivername not in ("sqlite", "sqlite+pysqlite") or url.query or url.host:
        raise ValidationError("a SQLite source is sqlite:///path/to/file.sqlite, without options", field=FIELD)
    path = _sqlite_file(config, url.database or "")
    engine = create_engine("sqlite+pysqlite://", creator=_read_only_connector(config, path), poolclass=NullPool)
    return Source(engine, shown(path.name), f"sqlite:///{path}", None)


def _sqlite_file(config: Config, database: str) -> Path:
    """The resolved file (symlinks and ``..`` followed first), if it is under the allowed directory and not
    the service's own data."""
    assert config.source_sqlite_dir is not None
    root = Path(config.source_sqlite_dir).resolve()
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValidationError("database_url must name a SQLite file (sqlite:///path/to/file.sqlite)", field=FIELD)
    path = (root / database).resolve()  # a relative path is taken under the allowed directory
    if not path.is_relative_to(root):
        raise ValidationError(f"SQLite files are read only from under {root} (MATCHER_SOURCE_SQLITE_DIR)",
                              field=FIELD)
    if _service_files(config, path):
        raise ValidationError("that file belongs to this service's own data; it cannot be a source", field=FIELD)
    if not path.is_file():
        raise ValidationError(f"no SQLite file {shown(str(path.relative_to(root)))} under {root}", field=FIELD)
    return path


def _service_files(config: Config, path: Path) -> bool:
    """Whether ``path`` is under the data directory or is one of the service's SQLite databases."""
    if path.is_relative_to(Path(config.data_dir).resolve()):
        return True
    own = (re.search(r"sqlite:///([^?]+)", url) for url in (config.database_url, config.broker_url,
                                                            config.result_backend))
    return any(match and Path(match.group(1)).resolve() == path for match in own)


def _read_only_connector(config: Config, path: Path) -> Callable[[], sqlite3.Connection]:
    """mode=ro: SQLite never creates or writes the file; a progress handler interrupts a read past its time."""
    uri = f"file:{pathname2url(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=config.source_connect_timeout,
                                     check_same_thread=False)
        deadline = time.monotonic() + config.source_read_timeout
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_STEPS)
        return connection

    return connect


# -- errors ---------------------------------------------------------------------------------------------------


def _connect(config: Config, source: Source) -> Connection:
    try:
        return source.engine.connect()
    except SQLAlchemyError as exc:
        if _is_timeout(exc):
            raise GatewayTimeout(f"cannot connect to {source.target} (timeout after "
                                 f"{config.source_connect_timeout} s)", field=FIELD) from None
        raise ValidationError(f"cannot connect to {source.target} ({_connect_failure(exc)})",
                              field=FIELD) from None


def _connect_failure(exc: SQLAlchemyError) -> str:
    """Why, in a few words: a driver's own message may say more about the network than the admin needs."""
    if _says(exc, "refused"):
        return "refused"
    if _says(exc, "unreachable", "no route to host"):
        return "unreachable"
    if _says(exc, "password", "authentication", "access denied"):
        return "the server refused the user name or password"
    if _says(exc, "translate host name", "name or service not known", "name resolution", "unknown host",
             "nodename nor servname"):
        return "unknown host"
    if _says(exc, "does not exist", "unknown database"):
        return "no such database"
    if _says(exc, "unable to open database"):
        return "cannot open the file"
    return "connection failed"


def _is_timeout(exc: Exception) -> bool:
    return _says(exc, "timeout expired", "timed out", "connection timeout")


def _says(exc: Exception, *fragments: str) -> bool:
    text = _driver_text(exc).lower()
    return any(fragment in text for fragment in fragments)


def _driver_text(exc: BaseException) -> str:
    """The driver's message, not SQLAlchemy's or pandas' (they quote the SQL), on one line."""
    if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _driver_message(exc: Exception, source: Source) -> str:
    """What the driver said (the table is not readable, ...), without the password."""
    text = _driver_text(exc)
    if source.password:
        text = text.replace(source.password, "***")
    return text if len(text) <= 300 else text[:297] + "..."
