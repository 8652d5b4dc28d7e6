"""Shared pieces of the REST API tests (SQLite in test_api.py, PostgreSQL in test_api_postgres.py).

The queue is a fake: it records what was enqueued and runs nothing (real workers are tested elsewhere).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from conftest import FIXTURES
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from labeling_ui import create_app
from server.web_cli import migrate_database
from services import users
from services.config import Config
from storage.db import Database
from storage.models import TaskRun

PEOPLE = FIXTURES / "people" / "records.csv"


@dataclass
class FakeQueue:
    """``dispatch``/``revoke`` stand-ins; ``seen`` is the run's status as a NEW session saw it at enqueue time."""

    enqueued: list[str] = field(default_factory=list)
    seen: list[str | None] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    fail: bool = False

    def __call__(self, config: Config, task_run_id: str) -> str:
        if self.fail:
            raise ConnectionError("broker unreachable")
        fresh = Database(config.database_url)  # another connection: sees only committed rows
        try:
            with fresh.session() as session:
                self.seen.append(session.scalar(select(TaskRun.status).where(TaskRun.id == task_run_id)))
        finally:
            fresh.engine.dispose()
        self.enqueued.append(task_run_id)
        return f"celery-{len(self.enqueued)}"

    def revoke(self, config: Config, celery_task_id: str) -> None:
        self.revoked.append(celery_task_id)


@dataclass
class Api:
    """A test client bound to one app, with an admin and a labeler token."""

    app: Flask
    client: FlaskClient
    config: Config
    db: Database
    queue: FakeQueue
    admin: str
    labeler: str

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        token = self.admin if token is None else token
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def upload(self, data: bytes, filename: str = "people.csv", token: str | None = None, **form: str) -> Any:
        return self.call("POST", "/datasets", token, data={"file": (io.BytesIO(data), filename), **form},
                         content_type="multipart/form-data")

    def dataset(self, rows: int = 30) -> dict[str, Any]:
        response = self.upload(people_csv(rows))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def transform(self, rows: int = 30, **fields: Any) -> dict[str, Any]:
        dataset = self.dataset(rows)
        body = {"name": "people", "dataset_id": dataset["id"], "primary_key": "id", **fields}
        response = self.call("POST", "/transforms", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def make_api(config: Config, queue: FakeQueue | None = None) -> Api:
    config.ensure_dirs()
    migrate_database(config)
    queue = queue or FakeQueue()
    app = create_app(config, dispatch=queue, revoke=queue.revoke)
    app.testing = True
    db = Database(config.database_url)
    _, admin = users.create_user(db, "alice", "admin")
    _, labeler = users.create_user(db, "lena", "labeler")
    return Api(app, app.test_client(), config, db, queue, admin, labeler)


def sqlite_api(tmp_path: Path, queue: FakeQueue | None = None, **config: Any) -> Api:
    return make_api(Config.from_env(tmp_path, database_url=f"sqlite:///{tmp_path / 'matcher.sqlite'}", **config),
                    queue)


def set_status(api: Api, run_id: str, status: str, **values: object) -> None:
    """Move a run as a worker would."""
    with api.db.session() as session:
        session.execute(update(TaskRun).where(TaskRun.id == run_id).values(status=status, **values))


def people_frame(rows: int = 30) -> pd.DataFrame:
    return pd.read_csv(PEOPLE, dtype=str, keep_default_na=False).head(rows)


def people_csv(rows: int = 30) -> bytes:
    return people_frame(rows).to_csv(index=False).encode("utf-8")


def labels_csv(keys: list[tuple[str, str, str]]) -> bytes:
    """A Glue labels file: (labeling_set_id, label, id) rows."""
    frame = pd.DataFrame(keys, columns=["labeling_set_id", "label", "id"])
    return frame.to_csv(index=False).encode("utf-8")


def is_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    return body


def count_runs(db: Database) -> int:
    with db.session() as session:
        return len(list(session.scalars(select(TaskRun.id))))


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def add_labeling_set(db: Database, transform_id: str, set_id: str, keys: list[str],
                     reason: dict[str, Any] | None = None) -> None:
    """What a LABELING_SET_GENERATION run leaves behind."""
    from storage.models import LabelingSet

    with db.session() as session:
        session.add(LabelingSet(transform_id=transform_id, set_id=set_id, record_keys=keys,
                                reason=reason or {"why": "uncertain pair"}))


def run_core_flow(api: Api) -> None:
    """Upload -> transform -> task run (committed before dispatch) -> idempotent retry -> filters -> cancel ->
    labels upload (bad file: nothing written) -> labeling set labeled by a labeler -> READY."""
    transform = api.transform()
    tid = transform["id"]
    assert transform["status"] == "NOT_READY"
    is_problem(api.call("POST", "/transforms", json={"name": "x", "dataset_id": transform["dataset_id"],
                                                     "primary_key": "id", "precision_recall_tradeoff": 1.5}),
               422, "precision_recall_tradeoff")

    started = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"},
                       headers={"Idempotency-Key": "k-1"})
    assert started.status_code == 202
    run = started.get_json()
    assert run["status"] == "STARTING" and api.queue.seen == ["STARTING"]
    again = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"},
                     headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 202 and again.get_json()["id"] == run["id"]
    assert count_runs(api.db) == 1 and len(api.queue.enqueued) == 1

    api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EXPORT_LABELS"})
    listed = api.call("GET", f"/transforms/{tid}/task-runs?type=FIND_MATCHES&status=STARTING").get_json()
    assert [r["id"] for r in listed["task_runs"]] == [run["id"]]
    cancelled = api.call("POST", f"/task-runs/{run['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.get_json()["status"] == "STOPPING"
    assert api.queue.revoked == ["celery-1"]

    keys = people_frame()["id"].tolist()
    bad = api.call("POST", f"/transforms/{tid}/labels", data={
        "file": (io.BytesIO(labels_csv([("s1", "A", keys[0]), ("s1", "A", "nobody")])), "labels.csv")},
        content_type="multipart/form-data")
    assert "nobody" in is_problem(bad, 400)["detail"]
    assert count_runs(api.db) == 2 and files_in(api.config.data_dir / "uploads") == []

    add_labeling_set(api.db, tid, "set-1", keys[:3])
    put = api.call("PUT", f"/transforms/{tid}/labeling-sets/set-1", api.labeler, json={"labels": [
        {"record_key": keys[0], "label": "A"}, {"record_key": keys[1], "label": "A"},
        {"record_key": keys[2], "label": "B"}]})
    assert put.status_code == 200, put.get_json()
    assert {label["labeled_by"] for label in put.get_json()["labels"]} == {"lena"}
    after = api.call("GET", f"/transforms/{tid}").get_json()
    assert after["status"] == "READY" and after["label_count"] == 3
