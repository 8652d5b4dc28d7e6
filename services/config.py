"""Service configuration: the embedded default lives under one data directory, production parts come from
environment variables (MATCHER_DATA_DIR, MATCHER_DATABASE_URL, MATCHER_BROKER_URL, MATCHER_STORAGE_URL); the
databases a dataset may be copied from are the operator's to allow (MATCHER_SOURCE_*, services.table_sources)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PRIVATE_UMASK = 0o077
DATA_SUBDIRS = ("datasets", "outputs", "artifacts", "uploads")


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    broker_url: str
    result_backend: str
    eager: bool = False  # only for unit tests of task bodies; real tests run real workers
    storage_url: str = ""  # fsspec URL of intermediate data shared by workers (default: the data directory)
    fanout_partitions: int = 8  # candidate scoring split into this many Celery tasks (services.fanout)
    fanout_min_pairs: int = 300_000  # ... when a run scores at least this many candidate pairs with a classifier
    # POST /datasets {database_url, table}: off until the operator lists hosts or a SQLite directory
    source_hosts: tuple[str, ...] = ()  # host[:port] patterns (fnmatch), e.g. "db.internal:5432", "*.corp"
    source_drivers: tuple[str, ...] = ("postgresql", "mysql", "mariadb")  # dialect or dialect+driver names
    source_sqlite_dir: Path | None = None  # SQLite files under this directory, opened read-only
    source_connect_timeout: int = 5  # seconds
    source_read_timeout: int = 120  # seconds for the whole read of a table
    max_columns: int = 1000  # an upload with more columns is refused before it is parsed (services.dataset_import)
    max_line_kb: int = 1024  # ... and one with a longer line
    max_model_mb: int = 512  # an imported model file over this (or unzipping to 8 times it) is refused (413)

    @classmethod
    def from_env(cls, data_dir: str | os.PathLike[str] | None = None, **overrides: object) -> Config:
        root = Path(data_dir or os.environ.get("MATCHER_DATA_DIR") or Path.home() / ".matcher").expanduser()
        root = root.resolve()
        database = os.environ.get("MATCHER_DATABASE_URL") or f"sqlite:///{root / 'matcher.sqlite'}"
        broker = os.environ.get("MATCHER_BROKER_URL") or f"sqla+sqlite:///{root / 'broker.sqlite'}"
        backend = os.environ.get("MATCHER_RESULT_BACKEND") or f"db+sqlite:///{root / 'results.sqlite'}"
        storage = os.environ.get("MATCHER_STORAGE_URL", "")
        values: dict[str, object] = {"data_dir": root, "database_url": database, "broker_url": broker,
                                     "result_backend": backend, "storage_url": storage}
        for name, variable in (("fanout_partitions", "MATCHER_FANOUT_PARTITIONS"),
                               ("fanout_min_pairs", "MATCHER_FANOUT_MIN_PAIRS"),
                               ("max_columns", "MATCHER_MAX_COLUMNS"), ("max_line_kb", "MATCHER_MAX_LINE_KB"),
                               ("max_model_mb", "MATCHER_MAX_MODEL_MB"),
                               ("source_connect_timeout", "MATCHER_SOURCE_CONNECT_TIMEOUT"),
                               ("source_read_timeout", "MATCHER_SOURCE_READ_TIMEOUT")):
            if os.environ.get(variable):
                values[name] = _positive_int(variable)
        values.update(_source_settings())
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def intermediate_url(self) -> str:
        return self.storage_url or str(self.data_dir)

    def ensure_dirs(self) -> None:
        """Create the data directory and its parts, private to the service's OS user (0700), and make what this
        process creates from now on private too: umask 077, so uploads, datasets, outputs, model caches and the
        SQLite files (database, broker, results) are 0600 and their directories 0700. Every service entry point
        (the web app, ``matcher serve|worker|db|users``) comes through here; a worker started by ``matcher serve``
        inherits the umask. The web process and the workers must therefore run as the same OS user."""
        os.umask(PRIVATE_UMASK)
        for path in (self.data_dir, *(self.data_dir / sub for sub in DATA_SUBDIRS)):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_mode & 0o077:
                path.chmod(0o700)  # a data directory made by an older version was world-readable


def _source_settings() -> dict[str, object]:
    values: dict[str, object] = {}
    for name, variable in (("source_hosts", "MATCHER_SOURCE_HOSTS"), ("source_drivers", "MATCHER_SOURCE_DRIVERS")):
        if variable in os.environ:  # set but empty: none allowed
            values[name] = tuple(p.strip() for p in os.environ[variable].split(",") if p.strip())
    if os.environ.get("MATCHER_SOURCE_SQLITE_DIR"):
        values["source_sqlite_dir"] = Path(os.environ["MATCHER_SOURCE_SQLITE_DIR"]).expanduser().resolve()
    return values


def _positive_int(variable: str) -> int:
    value = os.environ[variable]
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{variable} must be a positive integer, got {value!r}")
    return int(value)
