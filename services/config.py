"""Service configuration: the embedded default lives under one data directory, production parts come from
environment variables (MATCHER_DATA_DIR, MATCHER_DATABASE_URL, MATCHER_BROKER_URL, MATCHER_STORAGE_URL)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    broker_url: str
    result_backend: str
    eager: bool = False  # only for unit tests of task bodies; real tests run real workers

    @classmethod
    def from_env(cls, data_dir: str | os.PathLike[str] | None = None, **overrides: object) -> Config:
        root = Path(data_dir or os.environ.get("MATCHER_DATA_DIR") or Path.home() / ".matcher").expanduser()
        root = root.resolve()
        database = os.environ.get("MATCHER_DATABASE_URL") or f"sqlite:///{root / 'matcher.sqlite'}"
        broker = os.environ.get("MATCHER_BROKER_URL") or f"sqla+sqlite:///{root / 'broker.sqlite'}"
        backend = os.environ.get("MATCHER_RESULT_BACKEND") or f"db+sqlite:///{root / 'results.sqlite'}"
        values = {"data_dir": root, "database_url": database, "broker_url": broker, "result_backend": backend}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def ensure_dirs(self) -> None:
        for sub in ("datasets", "outputs", "artifacts", "uploads"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
