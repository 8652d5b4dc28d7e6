"""The engine's state machine called in-process (no queue): the cases a worker test cannot stage on cue, such as
a run that times out, a duplicate delivery while the run executes, a crash loop, and the orphan sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import redis
import sqlalchemy.exc
from celery.exceptions import Retry
from conftest import FIXTURES
from sqlalchemy import update
from worker_support import ROOT, Service, make_service

from matcher.incremental import store_from_fit
from matcher.io import read_table, to_arrow, write_table
from matcher.pipeline import Matcher
from matcher.settings import Settings
from services import engine, run_lock, run_state
from storage.models import TaskRun, utcnow
from workers import recovery, tasks

PEOPLE = FIXTURES / "people" / "records.csv"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = make_service(tmp_path)
    yield service
    service.close()


def new_run(service: Service, task_type: str = "EXPORT_LABELS", **values: Any) -> str:
    transform = service.add_transform(service.add_dataset(PEOPLE))
    with service.db.session() as session:
        run = TaskRun(transform_id=transform, type=task_type, params={}, created_by=service.user_id, **values)
        session.add(run)
        session.flush()
        return run.id


def execute(service: Service, run_id: str) -> str | None:
    return engine.execute(service.db, service.store, run_id)


def test_a_run_past_its_timeout_ends_timeout_without_output(service: Service) -> None:
    run_id = new_run(service, "FIND_MATCHES", timeout_minutes=0)
    assert execute(service, run_id) == "TIMEOUT"
    run = service.run(run_id)
    assert "timed out after 0 minutes" in run.error_message and run.output is None
    assert not service.store.output_dir(run_id).exists()


def test_finished_and_cancelled_runs_are_never_executed_again(service: Service) -> None:
    run_id = new_run(service)
    assert execute(service, run_id) == "SUCCEEDED"
    finished = service.run(run_id)
    assert execute(service, run_id) == "SUCCEEDED"  # a re-delivered message after the ack was lost
    assert service.run(run_id).completed_on == finished.completed_on

    queued = new_run(service, status="STOPPING")  # cancelled while still in the queue
    assert execute(service, queued) == "STOPPED"
    assert service.run(queued).attempts == 0


def test_a_duplicate_delivery_while_the_run_executes_does_nothing(service: Service) -> None:
    run_id = new_run(service)
    with run_lock.hold(service.store.root, run_id) as held:
        assert held
        assert execute(service, run_id) == "STARTING"
    assert service.run(run_id).attempts == 0
    assert execute(service, run_id) == "SUCCEEDED"


def test_a_crash_loop_ends_failed_after_max_retries(service: Service) -> None:
    run_id = new_run(service, status="RUNNING", attempts=4, started_on=utcnow() - timedelta(minutes=1))
    assert execute(service, run_id) == "FAILED"
    assert "gave up after 4 attempts" in service.run(run_id).error_message


def test_the_run_lock_dies_with_its_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from services import run_lock; "
         "ctx = run_lock.hold(sys.argv[1], 'r1'); assert ctx.__enter__(); print('held', flush=True); "
         "time.sleep(600)", str(tmp_path)], stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == b"held"
        assert run_lock.is_held(tmp_path, "r1")
        with run_lock.hold(tmp_path, "r1") as held:
            assert not held
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not run_lock.is_held(tmp_path, "r1")
    with run_lock.hold(tmp_path, "r1") as held:
        assert held


class FakeApp:
    """Records what recovery would send; the real sending is covered by the worker-kill test."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_task(self, name: str, args: list[str], **_options: Any) -> Any:
        self.sent.append(args[0])
        return type("Result", (), {"id": f"celery-{len(self.sent)}"})()


def test_the_sweep_requeues_orphans_and_ends_abandoned_cancels(service: Service) -> None:
    orphan = new_run(service, status="RUNNING", attempts=1)
    busy = new_run(service, status="RUNNING", attempts=1)
    cancelled = new_run(service, status="STOPPING")
    queued = new_run(service)
    finished = new_run(service)
    execute(service, finished)
    app = FakeApp()
    with run_lock.hold(service.store.root, busy):
        counts = recovery.sweep(app, service.config)
    assert app.sent == [orphan] and counts["requeued"] == 1 and counts["stopped"] == 1
    assert service.run(orphan).celery_task_id == "celery-1"
    assert service.run(cancelled).status == "STOPPED"
    assert service.run(queued).status == "STARTING"
    assert not run_lock.lock_path(service.store.root, finished).exists()  # stale lock files are cleaned up


def test_only_infrastructure_errors_are_transient() -> None:
    assert tasks.is_transient(sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert tasks.is_transient(redis.exceptions.ConnectionError("reset"))
    assert tasks.is_transient(ConnectionRefusedError())
    assert not tasks.is_transient(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not tasks.is_transient(ValueError("bug"))
    assert [tasks.backoff(n) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_requeued_runs_wait_in_starting(service: Service) -> None:
    run_id = new_run(service, status="RUNNING", attempts=1)
    assert run_state.requeued(service.db, run_id, "retrying in 5 s after: OperationalError")
    assert service.run(run_id).status == "STARTING"
    with service.db.session() as session:
        session.execute(update(TaskRun).where(TaskRun.id == run_id).values(status="SUCCEEDED"))
    assert not run_state.requeued(service.db, run_id, "late")


class FakeTask:
    """The two things ``retry_or_give_up`` uses of a bound Celery task."""

    def __init__(self, retries: int) -> None:
        self.request = type("Request", (), {"retries": retries})()
        self.retried: list[dict[str, Any]] = []

    def retry(self, **options: Any) -> None:
        self.retried.append(options)
        raise Retry()


def test_transient_errors_retry_with_backoff_until_max_retries(service: Service) -> None:
    run_id = new_run(service, status="RUNNING", attempts=1)
    error = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    task = FakeTask(retries=1)
    with pytest.raises(Retry):
        tasks.retry_or_give_up(task, service.db, run_id, error)  # type: ignore[arg-type]
    assert task.retried == [{"exc": error, "countdown": 10.0, "max_retries": 3}]
    run = service.run(run_id)
    assert run.status == "STARTING" and run.stage.startswith("retrying in 10 s")

    exhausted = FakeTask(retries=3)
    tasks.retry_or_give_up(exhausted, service.db, run_id, error)  # type: ignore[arg-type]
    assert exhausted.retried == []  # the caller ends the run FAILED


def test_find_matches_writes_what_the_matcher_writes(service: Service, tmp_path: Path) -> None:
    """The run builds its output rows from the dataset file in Arrow and reads only the key column before
    that; the files are still byte for byte what ``matcher match --store`` writes (match ids: the entity store's),
    on a fresh fit and a cached one (whose store version reconciles with the first: the same ids)."""
    records = read_table(PEOPLE, "id")
    fitted = Matcher(Settings(primary_key="id")).fit(records)
    expected = store_from_fit(fitted, fitted.predict(), fitted.default_decision, None).records
    write_table(expected, tmp_path / "expected.csv")
    transform = service.add_transform(service.add_dataset(PEOPLE))
    for _ in range(2):  # the first run fits and caches the matcher, the second reloads it
        with service.db.session() as session:
            run = TaskRun(transform_id=transform, type="FIND_MATCHES", params={}, created_by=service.user_id)
            session.add(run)
            session.flush()
            run_id = run.id
        assert execute(service, run_id) == "SUCCEEDED", service.run(run_id).error_message
        output = service.output(service.run(run_id))
        assert output.read_bytes() == (tmp_path / "expected.csv").read_bytes()
        written = pq.read_table(output.with_name("matches.parquet"))
        assert written.column_names == list(expected.columns)
        assert written.to_pylist() == to_arrow(expected).to_pylist()  # values (key: string, was large_string)


def test_find_matches_on_repeated_keys_fails_naming_them(service: Service, tmp_path: Path) -> None:
    """Reading the key column alone must not hide what the whole read reports (here: a repeated key)."""
    frame = pd.read_csv(PEOPLE, dtype=str)
    frame.loc[5, "id"] = frame.loc[2, "id"]
    csv = tmp_path / "repeated.csv"
    frame.to_csv(csv, index=False)
    dataset = service.add_dataset(PEOPLE)
    write_table(pd.read_csv(csv, dtype=str, keep_default_na=False).replace("", None),
                service.store.dataset_path(dataset))
    with service.db.session() as session:
        run = TaskRun(transform_id=service.add_transform(dataset), type="FIND_MATCHES", params={},
                      created_by=service.user_id)
        session.add(run)
        session.flush()
        run_id = run.id
    assert execute(service, run_id) == "FAILED"
    message = service.run(run_id).error_message
    assert f"primary key 'id' has 1 duplicated value(s): {frame.loc[2, 'id']!r} (row 3, row 6)" in message
