"""Uploaded labels files are deleted once their work is done (issue 15: 318 were kept, some of deleted
transforms). Through the REST API, the IMPORT_LABELS run executed in-process as a worker would."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import Api, FakeQueue, files_in, is_problem, labels_csv, people_frame, set_status, sqlite_api

from services import engine, upload_retention
from storage.artifacts import ArtifactStore


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def uploads(api: Api) -> list[str]:
    return files_in(api.config.data_dir / "uploads")


def import_labels(api: Api, tid: str) -> dict[str, Any]:
    keys = people_frame()["id"].tolist()
    data = labels_csv([("s1", "A", keys[0]), ("s1", "A", keys[1]), ("s1", "B", keys[2])])
    before = len(uploads(api))
    response = api.call("POST", f"/transforms/{tid}/labels", data={"file": (io.BytesIO(data), "labels.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert len(uploads(api)) == before + 1  # kept for the run
    return response.get_json()


def execute(api: Api, run_id: str) -> str | None:
    return engine.execute(api.db, ArtifactStore(api.config.data_dir), run_id)


def test_the_labels_file_is_deleted_once_imported(api: Api) -> None:
    tid = api.transform()["id"]
    run = import_labels(api, tid)
    assert execute(api, run["id"]) == "SUCCEEDED"
    assert api.call("GET", f"/transforms/{tid}").get_json()["label_count"] == 3
    assert uploads(api) == []
    assert execute(api, run["id"]) == "SUCCEEDED"  # a duplicate delivery finds nothing to do, and no file


def test_the_labels_file_is_deleted_when_the_import_fails_or_is_stopped(api: Api) -> None:
    tid = api.transform()["id"]
    failing = import_labels(api, tid)
    saved = api.config.data_dir / "uploads" / uploads(api)[0]
    saved.write_bytes(b"labeling_set_id,label,id\ns1,A,nobody\n")  # no longer valid when the worker reads it
    assert execute(api, failing["id"]) == "FAILED"
    assert uploads(api) == []
    stopped = import_labels(api, tid)
    assert api.call("POST", f"/task-runs/{stopped['id']}/cancel").status_code == 202
    assert execute(api, stopped["id"]) == "STOPPED"
    assert uploads(api) == []


def test_the_labels_file_is_deleted_when_the_queue_refuses_the_run(tmp_path: Path) -> None:
    api = sqlite_api(tmp_path, FakeQueue(fail=True))
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    response = api.call("POST", f"/transforms/{tid}/labels", data={
        "file": (io.BytesIO(labels_csv([("s1", "A", keys[0]), ("s1", "B", keys[1])])), "labels.csv")},
        content_type="multipart/form-data")
    is_problem(response, 503)
    assert uploads(api) == []


def test_deleting_a_transform_deletes_its_uploaded_files(api: Api) -> None:
    tid = api.transform()["id"]
    other = api.transform()["id"]
    run = import_labels(api, tid)
    kept = import_labels(api, other)
    set_status(api, run["id"], "STOPPED")  # ended without a worker ever reading it (revoked while queued)
    assert len(uploads(api)) == 2
    assert api.call("DELETE", f"/transforms/{tid}").status_code == 204
    assert len(uploads(api)) == 1
    assert execute(api, kept["id"]) == "SUCCEEDED" and uploads(api) == []


def test_the_recovery_sweep_prunes_old_files_no_active_run_needs(api: Api) -> None:
    """Files left by older versions, crashed requests or runs failed by the Celery backstop."""
    tid = api.transform()["id"]
    waiting = import_labels(api, tid)
    folder = api.config.data_dir / "uploads"
    needed = folder / uploads(api)[0]
    orphan, fresh = folder / "labels-orphan.csv", folder / "dataset-in-flight.csv"
    orphan.write_text("x"), fresh.write_text("x")
    old = time.time() - 2 * upload_retention.PRUNE_AFTER
    for path in (needed, orphan):
        os.utime(path, (old, old))
    assert upload_retention.prune(api.db, api.config.data_dir) == 1
    assert sorted(uploads(api)) == sorted([needed.name, fresh.name])
    assert execute(api, waiting["id"]) == "SUCCEEDED"
    assert uploads(api) == [fresh.name]
