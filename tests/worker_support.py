"""Real task-run plumbing for tests: a migrated data directory with rows inserted through the storage models,
real ``celery worker`` subprocesses, runs enqueued through ``workers.dispatch`` and polled on their rows.

No eager mode anywhere: what runs is what production runs (broker, worker process, acks, redelivery).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from matcher.io import read_table, write_table
from services.config import Config
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Dataset, Label, LabelingSet, TaskRun, Transform, User
from workers import dispatch

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT")
RUN_TIMEOUT = 180.0  # generous: two busy cores shared with other jobs


@dataclass
class Service:
    """One data directory with its database, broker and artifact store, plus a user who starts runs."""

    config: Config
    db: Database
    store: ArtifactStore
    user_id: str
    user_name: str = "alice"
    workers: list[Worker] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment a worker needs to use exactly this configuration (never the developer's own)."""
        return dict(os.environ, MATCHER_DATA_DIR=str(self.config.data_dir),
                    MATCHER_DATABASE_URL=self.config.database_url, MATCHER_BROKER_URL=self.config.broker_url,
                    MATCHER_RESULT_BACKEND=self.config.result_backend, PYTHONPATH=str(ROOT))

    def add_dataset(self, csv: Path, name: str = "people") -> str:
        records = read_table(csv, "id")
        with self.db.session() as session:
            dataset = Dataset(name=name, source=csv.name, artifact="", columns=list(records.columns),
                              column_types={}, row_count=len(records), created_by=self.user_id)
            session.add(dataset)
            session.flush()
            dataset.artifact = self.store.dataset_path(dataset.id).relative_to(self.store.root).as_posix()
            dataset_id = dataset.id
        self.store.dataset_path(dataset_id).parent.mkdir(parents=True, exist_ok=True)
        write_table(records, self.store.dataset_path(dataset_id))
        return dataset_id

    def add_transform(self, dataset_id: str, **values: Any) -> str:
        with self.db.session() as session:
            transform = Transform(name=values.pop("name", "t"), dataset_id=dataset_id, primary_key="id",
                                  created_by=self.user_id, **values)
            session.add(transform)
            session.flush()
            return transform.id

    def start(self, transform_id: str, task_type: str, **params: Any) -> str:
        """As the API does it: commit the STARTING row, then enqueue, then store the Celery task id."""
        with self.db.session() as session:
            transform = session.get(Transform, transform_id)
            run = TaskRun(transform_id=transform_id, type=task_type, params=params, created_by=self.user_id,
                          timeout_minutes=transform.timeout_minutes)
            session.add(run)
            session.flush()
            run_id = run.id
        celery_id = dispatch.enqueue(self.config, run_id)
        with self.db.session() as session:
            session.get(TaskRun, run_id).celery_task_id = celery_id
        return run_id

    def run(self, run_id: str) -> TaskRun:
        with self.db.session() as session:
            return session.get(TaskRun, run_id)

    def wait(self, run_id: str, until: Callable[[TaskRun], bool] | None = None,
             timeout: float = RUN_TIMEOUT) -> TaskRun:
        """Poll the row until ``until(run)`` (default: a terminal status); fail with the workers' logs."""
        until = until or (lambda r: r.status in TERMINAL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if until(run):
                return run
            time.sleep(0.1)
        logs = "\n".join(w.log_tail() for w in self.workers)
        raise AssertionError(f"task run {run_id} still {run.status} ({run.stage}, {run.progress}) after "
                             f"{timeout:.0f} s\n{logs}")

    def output(self, run: TaskRun, name: str | None = None) -> Path:
        assert run.output, f"run {run.id} has no output"
        path = self.store.root / run.output
        return path if name is None else path.parent / name

    def labels(self, transform_id: str) -> pd.DataFrame:
        with self.db.session() as session:
            rows = session.execute(select(Label.labeling_set_id, Label.record_key, Label.label, Label.labeled_by)
                                   .where(Label.transform_id == transform_id)).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=["labeling_set_id", "key", "label", "labeled_by"])

    def labeling_sets(self, transform_id: str) -> list[LabelingSet]:
        with self.db.session() as session:
            return list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)))

    def upload(self, frame: pd.DataFrame, name: str) -> Path:
        path = self.config.data_dir / "uploads" / name
        frame.to_csv(path, index=False)
        return path

    def start_worker(self, command: list[str] | None = None, env_overrides: dict[str, str] | None = None,
                     loglevel: str = "warning") -> Worker:
        env = {**self.env(), **(env_overrides or {})}
        log = self.config.data_dir / f"worker-{len(self.workers)}.log"
        worker = Worker.start(log, env, command, loglevel)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.db.engine.dispose()


def make_service(data_dir: Path, **overrides: Any) -> Service:
    """Migrate a fresh data directory (embedded SQLite database and broker unless overridden) and add a user."""
    root = data_dir.resolve()
    values = {"data_dir": root, "database_url": f"sqlite:///{root / 'matcher.sqlite'}",
              "broker_url": f"sqla+sqlite:///{root / 'broker.sqlite'}",
              "result_backend": f"db+sqlite:///{root / 'results.sqlite'}"}  # never the developer's MATCHER_*
    config = Config(**{**values, **overrides})
    config.ensure_dirs()
    migrate.upgrade(config.database_url)
    db = Database(config.database_url)
    with db.session() as session:
        user = User(name="alice", role="admin")
        session.add(user)
        session.flush()
        user_id = user.id
    return Service(config, db, ArtifactStore(config.data_dir), user_id)


@dataclass
class Worker:
    """A worker subprocess, by default ``celery -A workers.celery_app worker`` with the solo pool: the task runs
    in this very process, so a SIGKILL hits the run."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, log: Path, env: dict[str, str], command: list[str] | None = None,
              loglevel: str = "warning") -> Worker:
        command = command or [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=solo",
                              "--concurrency=1", "-l", loglevel, "--without-gossip", "--without-mingle"]
        with open(log, "ab") as handle:
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        return cls(process, log)

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.log.name} (exit {self.process.poll()}) ---\n{text[-chars:]}"

    def kill(self) -> None:
        """What an OOM kill or a pulled plug does: no shutdown code runs, nothing is acknowledged."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def matcher_worker_command(data_dir: Path) -> list[str]:
    """The ``matcher worker`` verb of the installed console script, in the solo pool."""
    script = Path(sys.executable).with_name("matcher")
    return [str(script), "worker", "--data-dir", str(data_dir), "--pool", "solo", "--loglevel", "warning"]


def synth(rows: int, seed: int, out: Path) -> Path:
    """``bench/synth.py`` records (id, names, dob, address, e-mail, phone with known duplicates)."""
    if not (out / "records.csv").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "synth.py"), "--rows", str(rows), "--seed", str(seed),
                        "--out", str(out)], check=True, capture_output=True)
    return out / "records.csv"
