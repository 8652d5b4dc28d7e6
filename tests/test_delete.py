"""Deleting datasets and transforms through the REST API: rows and files go, a 404 follows, an active run or a
transform using the dataset refuses it (409, nothing deleted), labelers may not. Runs are executed in-process as
a worker would (services.engine), so the files checked are the ones real runs write."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from api_support import Api, files_in, is_problem, labels_csv, people_frame, set_status, sqlite_api
from sqlalchemy import func, select

from services import engine
from storage.artifacts import ArtifactStore
from storage.models import Dataset, Label, LabelingSet, TaskRun, Transform


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def run(api: Api, tid: str, body: dict[str, object]) -> str:
    response = api.call("POST", f"/transforms/{tid}/task-runs", json=body)
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["id"]
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run_id) == "SUCCEEDED"
    return run_id


def rows_of(api: Api, model: type, **where: str) -> int:
    with api.db.session() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(session.scalar(query))


def test_deleting_a_transform_then_its_dataset_removes_their_rows_and_files(api: Api) -> None:
    transform = api.transform(rows=120)
    tid, dataset_id = transform["id"], transform["dataset_id"]
    data = api.config.data_dir
    generation = run(api, tid, {"type": "LABELING_SET_GENERATION", "params": {"num_sets": 2, "set_size": 6}})
    keys = people_frame(120)["id"].tolist()
    labels = labels_csv([("s1", "A", keys[0]), ("s1", "A", keys[1]), ("s1", "B", keys[2]), ("s1", "C", keys[3])])
    imported = api.call("POST", f"/transforms/{tid}/labels", data={"file": (io.BytesIO(labels), "labels.csv")},
                        content_type="multipart/form-data").get_json()["id"]
    assert files_in(data / "uploads")  # kept until the IMPORT_LABELS run has read it
    assert engine.execute(api.db, ArtifactStore(data), imported) == "SUCCEEDED"
    matches = run(api, tid, {"type": "FIND_MATCHES"})
    assert {generation, matches} <= set(files_in(data / "outputs"))
    assert files_in(data / "artifacts" / tid)  # the fitted model of the FIND_MATCHES run
    assert rows_of(api, Label, transform_id=tid) and rows_of(api, LabelingSet, transform_id=tid)

    assert api.call("DELETE", f"/transforms/{tid}").status_code == 204
    is_problem(api.call("GET", f"/transforms/{tid}"), 404)
    is_problem(api.call("GET", f"/task-runs/{matches}"), 404)
    is_problem(api.call("DELETE", f"/transforms/{tid}"), 404)
    for model in (Label, LabelingSet, TaskRun):
        assert rows_of(api, model, transform_id=tid) == 0, model
    assert rows_of(api, Transform, id=tid) == 0
    assert files_in(data / "outputs") == [] and files_in(data / "uploads") == []
    assert not (data / "artifacts" / tid).exists()
    assert api.call("GET", f"/datasets/{dataset_id}").status_code == 200  # the dataset stays

    assert sorted(files_in(data / "datasets")) == [f"{dataset_id}.{ext}" for ext in ("facts.json", "lines.npy",
                                                                                     "parquet")]
    assert api.call("DELETE", f"/datasets/{dataset_id}").status_code == 204
    is_problem(api.call("GET", f"/datasets/{dataset_id}"), 404)
    is_problem(api.call("DELETE", f"/datasets/{dataset_id}"), 404)
    assert rows_of(api, Dataset, id=dataset_id) == 0 and files_in(data / "datasets") == []


def test_an_active_run_blocks_deleting_its_transform_and_the_dataset_names_its_transforms(api: Api) -> None:
    transform = api.transform(name="nightly dedup")
    tid, dataset_id = transform["id"], transform["dataset_id"]
    second = api.call("POST", "/transforms", json={"name": "second look", "dataset_id": dataset_id,
                                                   "primary_key": "id"}).get_json()["id"]
    run_id = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()["id"]
    for status in ("STARTING", "RUNNING", "STOPPING"):
        set_status(api, run_id, status)
        assert "active task run" in is_problem(api.call("DELETE", f"/transforms/{tid}"), 409)["detail"]
    refused = is_problem(api.call("DELETE", f"/datasets/{dataset_id}"), 409)["detail"]
    assert "'nightly dedup'" in refused and "'second look'" in refused and "2 transform(s)" in refused
    assert api.call("GET", f"/task-runs/{run_id}").get_json()["status"] == "STOPPING"  # nothing deleted
    assert files_in(api.config.data_dir / "datasets")

    set_status(api, run_id, "STOPPED")
    assert api.call("DELETE", f"/transforms/{tid}").status_code == 204
    assert "'second look'" in is_problem(api.call("DELETE", f"/datasets/{dataset_id}"), 409)["detail"]
    assert api.call("DELETE", f"/transforms/{second}").status_code == 204
    assert api.call("DELETE", f"/datasets/{dataset_id}").status_code == 204


def test_labelers_may_not_delete(api: Api) -> None:
    transform = api.transform()
    unused = api.dataset()["id"]
    for path in (f"/transforms/{transform['id']}", f"/datasets/{unused}"):
        assert "labeler" in is_problem(api.call("DELETE", path, api.labeler), 403)["detail"]
        assert api.call("GET", path, api.labeler).status_code == 200
