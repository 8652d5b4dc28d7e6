"""Task runs (start, cancel, list, output), labels uploads and labeling sets through the REST API, on SQLite.

The queue is a fake that records what was enqueued (see api_support); real workers are tested elsewhere.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from api_support import (
    Api,
    FakeQueue,
    add_labeling_set,
    count_runs,
    files_in,
    is_problem,
    labels_csv,
    people_frame,
    set_status,
    sqlite_api,
)
from sqlalchemy import select

from labeling_ui import create_app
from services import engine
from services.config import Config
from storage.artifacts import ArtifactStore
from storage.models import Label, TaskRun
from workers import dispatch


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


# -- task runs ----------------------------------------------------------------------------------------------


def test_task_run_row_is_committed_before_dispatch(api: Api) -> None:
    tid = api.transform()["id"]
    response = api.call("POST", f"/transforms/{tid}/task-runs",
                        json={"type": "LABELING_SET_GENERATION", "params": {"num_sets": 3, "set_size": 5}})
    assert response.status_code == 202
    run = response.get_json()
    assert run["status"] == "STARTING" and run["type"] == "LABELING_SET_GENERATION"
    assert run["params"] == {"num_sets": 3, "set_size": 5}
    assert response.headers["Location"].endswith(f"/api/v1/task-runs/{run['id']}")
    assert api.queue.enqueued == [run["id"]] and api.queue.seen == ["STARTING"]
    with api.db.session() as session:
        assert session.get(TaskRun, run["id"]).celery_task_id == "celery-1"
    assert api.call("GET", f"/task-runs/{run['id']}", api.labeler).get_json()["id"] == run["id"]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"type": "MAKE_COFFEE"}, 422, "type"),
    ({}, 422, "type"),
    ({"type": "IMPORT_LABELS"}, 422, "type"),
    ({"type": "LABELING_SET_GENERATION", "params": {"set_size": 500}}, 422, "params.set_size"),
    ({"type": "FIND_MATCHES", "params": {"threshold": 1}}, 422, "params.threshold"),
    ({"type": "FIND_MATCHES", "params": [1]}, 422, None),
    ({"type": "EVALUATION"}, 409, None),
])
def test_bad_task_runs_create_nothing(api: Api, body: dict, status: int, field: str | None) -> None:
    tid = api.transform()["id"]
    is_problem(api.call("POST", f"/transforms/{tid}/task-runs", json=body), status, field)
    assert count_runs(api.db) == 0 and api.queue.enqueued == []


def test_a_run_takes_its_own_timeout_or_the_transforms(api: Api) -> None:
    tid = api.transform(timeout_minutes=90)["id"]
    own = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES", "timeout_minutes": 5})
    inherited = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"})
    assert (own.status_code, inherited.status_code) == (202, 202)
    assert (own.get_json()["timeout_minutes"], inherited.get_json()["timeout_minutes"]) == (5, 90)
    for bad in (0, -3, "10", 10_081, True):
        is_problem(api.call("POST", f"/transforms/{tid}/task-runs",
                            json={"type": "FIND_MATCHES", "timeout_minutes": bad}), 422, "timeout_minutes")
    assert count_runs(api.db) == 2


def test_integers_sent_as_whole_floats_are_accepted_and_stored_as_integers(api: Api) -> None:
    """Found by the fuzzer: JSON Schema's integers include 60.0, which these fields answered with a 422."""
    tid = api.transform()["id"]
    response = api.call("POST", f"/transforms/{tid}/task-runs", json={
        "type": "LABELING_SET_GENERATION", "timeout_minutes": 60.0, "params": {"num_sets": 2.0, "set_size": 5.0}})
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    assert run["timeout_minutes"] == 60 and run["params"] == {"num_sets": 2, "set_size": 5}
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED"  # the worker's ints
    assert api.call("PATCH", f"/transforms/{tid}", json={"max_retries": 3.0}).get_json()["max_retries"] == 3
    for bad in (5.5, True, "5"):
        is_problem(api.call("POST", f"/transforms/{tid}/task-runs", json={
            "type": "LABELING_SET_GENERATION", "params": {"set_size": bad}}), 422, "params.set_size")
    user = api.call("GET", "/users").get_json()["users"][0]["id"]
    token = api.call("POST", f"/users/{user}/tokens", json={"expires_in_days": 30.0})
    assert token.status_code == 201 and token.get_json()["token"]["expires_at"]
    is_problem(api.call("POST", f"/users/{user}/tokens", json={"expires_in_days": 1.5}), 422, "expires_in_days")


def test_unknown_transform_and_run_are_404(api: Api) -> None:
    is_problem(api.call("POST", "/transforms/nope/task-runs", json={"type": "FIND_MATCHES"}), 404)
    is_problem(api.call("GET", "/task-runs/nope"), 404)
    is_problem(api.call("GET", "/transforms/nope/task-runs"), 404)


def test_queue_down_marks_the_run_failed_and_answers_503(tmp_path: Path) -> None:
    api = sqlite_api(tmp_path, FakeQueue(fail=True))
    tid = api.transform()["id"]
    is_problem(api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}), 503)
    runs = api.call("GET", f"/transforms/{tid}/task-runs").get_json()["task_runs"]
    assert [(r["status"], r["error_message"]) for r in runs] == [
        ("FAILED", "could not enqueue the task: broker unreachable")]


def test_cancel(api: Api) -> None:
    tid = api.transform()["id"]
    queued = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    running = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EXPORT_LABELS"}).get_json()
    set_status(api, running["id"], "RUNNING")
    assert api.call("POST", f"/task-runs/{queued['id']}/cancel").get_json()["status"] == "STOPPING"
    assert api.call("POST", f"/task-runs/{running['id']}/cancel").get_json()["status"] == "STOPPING"
    assert api.queue.revoked == ["celery-1"]  # only the queued one; the running one stops cooperatively
    assert api.call("POST", f"/task-runs/{queued['id']}/cancel").status_code == 202  # again: still STOPPING
    set_status(api, running["id"], "SUCCEEDED")
    assert "SUCCEEDED" in is_problem(api.call("POST", f"/task-runs/{running['id']}/cancel"), 409)["detail"]
    is_problem(api.call("POST", "/task-runs/nope/cancel"), 404)


def test_an_app_built_without_queue_callables_queues_on_the_broker(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app's own dispatch/revoke are workers.dispatch's (the services never import the workers): the run's
    message is really in the embedded broker's queue, and cancelling it revokes that message's Celery id."""
    api = sqlite_api(tmp_path, broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")
    api.app = create_app(api.config)
    api.client = api.app.test_client()
    revoked: list[str] = []
    real_revoke = dispatch.revoke

    def revoke(config: Config, celery_task_id: str) -> bool:  # the real one, seen
        revoked.append(celery_task_id)
        return real_revoke(config, celery_task_id)

    monkeypatch.setattr(dispatch, "revoke", revoke)
    run = api.call("POST", f"/transforms/{api.transform()['id']}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert dispatch.queued_messages(dispatch.app_for(api.config)) == 1 and not api.queue.enqueued
    with api.db.session() as session:
        celery_id = session.get(TaskRun, run["id"]).celery_task_id
    assert celery_id and len(celery_id) == 36  # Celery's uuid, not a fake's
    assert api.call("POST", f"/task-runs/{run['id']}/cancel").get_json()["status"] == "STOPPING"
    assert revoked == [celery_id]


def test_list_task_runs_filters_by_type_and_status(api: Api) -> None:
    tid = api.transform()["id"]
    ids = {}
    for task_type in ("FIND_MATCHES", "FIND_MATCHES", "EXPORT_LABELS"):
        ids.setdefault(task_type, []).append(
            api.call("POST", f"/transforms/{tid}/task-runs", json={"type": task_type}).get_json()["id"])
    set_status(api, ids["FIND_MATCHES"][0], "SUCCEEDED")

    def listed(query: str) -> set[str]:
        response = api.call("GET", f"/transforms/{tid}/task-runs{query}", api.labeler)
        assert response.status_code == 200, response.get_json()
        return {r["id"] for r in response.get_json()["task_runs"]}

    assert listed("") == set(ids["FIND_MATCHES"] + ids["EXPORT_LABELS"])
    assert listed("?type=FIND_MATCHES") == set(ids["FIND_MATCHES"])
    assert listed("?type=FIND_MATCHES&status=STARTING") == {ids["FIND_MATCHES"][1]}
    assert listed("?status=SUCCEEDED") == {ids["FIND_MATCHES"][0]}
    assert len(listed("?limit=1")) == 1
    is_problem(api.call("GET", f"/transforms/{tid}/task-runs?status=DONE"), 422, "status")
    is_problem(api.call("GET", f"/transforms/{tid}/task-runs?limit=x"), 422, "limit")


@pytest.mark.parametrize("value", ["-1", "0", str(2**63 - 1), str(2**63), str(-(2**63) - 1), "9" * 5000])
def test_huge_or_negative_page_sizes_are_422_naming_the_parameter(api: Api, value: str) -> None:
    """Every paginated endpoint's integers (the clusters' offset/limit: test_api_clusters)."""
    tid = api.transform()["id"]
    dataset_id = api.call("GET", f"/transforms/{tid}").get_json()["dataset_id"]
    for path, field in ((f"/transforms/{tid}/task-runs?limit={value}", "limit"),
                        (f"/datasets/{dataset_id}?preview_rows={value}", "preview_rows")):
        if value == "0" and field == "preview_rows":
            continue  # no preview rows is a valid ask
        body = is_problem(api.call("GET", path), 422, field)
        assert body["detail"].startswith(field) and len(body["detail"]) < 200


def test_idempotency_key_replays_the_first_answer(api: Api) -> None:
    tid = api.transform()["id"]
    path, key = f"/transforms/{tid}/task-runs", {"Idempotency-Key": "retry-me"}
    first = api.call("POST", path, json={"type": "FIND_MATCHES"}, headers=key)
    second = api.call("POST", path, json={"type": "FIND_MATCHES"}, headers=key)
    assert first.status_code == second.status_code == 202
    assert second.get_json() == first.get_json() and second.headers["Idempotent-Replayed"] == "true"
    assert count_runs(api.db) == 1 and len(api.queue.enqueued) == 1
    is_problem(api.call("POST", "/transforms", json={"name": "x"}, headers=key), 422, "Idempotency-Key")
    # a failed request does not consume its key
    failing = {"Idempotency-Key": "after-fix"}
    is_problem(api.call("POST", path, json={"type": "NOPE"}, headers=failing), 422, "type")
    assert api.call("POST", path, json={"type": "EXPORT_LABELS"}, headers=failing).status_code == 202
    assert count_runs(api.db) == 2


def test_every_idempotent_post_documents_the_key_conflicts_it_answers(api: Api) -> None:
    """Found by the fuzzer (test_fuzz_api): a key reused on the cancel route answered an undocumented 422."""
    tid = api.transform()["id"]
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"},
                   headers={"Idempotency-Key": "k1"}).get_json()
    reused = api.call("POST", f"/task-runs/{run['id']}/cancel", headers={"Idempotency-Key": "k1"})
    assert "already used for POST" in is_problem(reused, 422, "Idempotency-Key")["detail"]
    spec = api.call("GET", "/openapi.json").get_json()
    idempotent = [(path, op) for path, item in spec["paths"].items() for method, op in item.items()
                  if method == "post" and any(p.get("name") == "Idempotency-Key" for p in op.get("parameters", []))]
    assert len(idempotent) == 6  # datasets, transforms, task-runs, labels, models, cancel
    for path, op in idempotent:
        assert {"409", "422"} <= set(op["responses"]), path


def test_output_download(api: Api) -> None:
    tid = api.transform()["id"]
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert "STARTING" in is_problem(api.call("GET", f"/task-runs/{run['id']}/output"), 409)["detail"]
    output = api.config.data_dir / "outputs" / run["id"] / "matches.csv"  # the engine's layout, no .parquet
    output.parent.mkdir(parents=True)
    output.write_text("id,match_id,match_confidence_score\nr1,r1,0.9\nr2,r1,0.8\n02,02,1\n")
    set_status(api, run["id"], "SUCCEEDED", output=f"outputs/{run['id']}/matches.csv", output_format="csv")
    response = api.call("GET", f"/task-runs/{run['id']}/output", api.labeler)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.get_data(as_text=True) == output.read_text()
    parquet = api.call("GET", f"/task-runs/{run['id']}/output?format=parquet")
    assert parquet.status_code == 200 and parquet.mimetype == "application/vnd.apache.parquet"
    frame = pd.read_parquet(io.BytesIO(parquet.get_data()))
    assert frame["id"].tolist() == ["r1", "r2", "02"] and frame["match_confidence_score"].tolist() == [0.9, 0.8, 1]
    is_problem(api.call("GET", f"/task-runs/{run['id']}/output?format=xlsx"), 422, "format")

    export = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EXPORT_LABELS"}).get_json()
    set_status(api, export["id"], "SUCCEEDED")
    is_problem(api.call("GET", f"/task-runs/{export['id']}/output?format=parquet"), 422, "format")
    is_problem(api.call("GET", f"/task-runs/{export['id']}/output"), 404)
    summary = api.config.data_dir / "outputs" / export["id"] / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text('{"n_sets": 2}')
    set_status(api, export["id"], "SUCCEEDED", output=str(summary), output_format="json")
    as_json = api.call("GET", f"/task-runs/{export['id']}/output")
    assert as_json.mimetype == "application/json" and as_json.get_json() == {"n_sets": 2}
    is_problem(api.call("GET", f"/task-runs/{export['id']}/output?format=csv"), 422, "format")


# -- labels -------------------------------------------------------------------------------------------------


def _post_labels(api: Api, tid: str, data: bytes, filename: str = "labels.csv", **form: str):  # noqa: ANN202
    return api.call("POST", f"/transforms/{tid}/labels", data={"file": (io.BytesIO(data), filename), **form},
                    content_type="multipart/form-data")


def test_labels_upload_is_validated_before_anything_is_written(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    bad_files = [labels_csv([("s1", "A", keys[0]), ("s1", "B", "r9999999")]),
                 b"labeling_set_id,id\ns1,r0000000\n",  # no label column
                 labels_csv([("s1", "A", keys[0]), ("s1", "B", keys[0])])]  # a record twice in a set
    for data in bad_files:
        body = is_problem(_post_labels(api, tid, data), 400)
        assert "labels.csv" in body["detail"] and str(api.config.data_dir) not in body["detail"]
    is_problem(_post_labels(api, tid, b"x", "labels.xlsx"), 415, "file")
    is_problem(_post_labels(api, tid, labels_csv([("s1", "A", keys[0])]), replace="maybe"), 422, "replace")
    assert count_runs(api.db) == 0 and api.queue.enqueued == []
    assert files_in(api.config.data_dir / "uploads") == []
    with api.db.session() as session:
        assert list(session.scalars(select(Label))) == []


def test_labels_upload_starts_an_import_run(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    response = _post_labels(api, tid, labels_csv([("s1", "A", keys[0]), ("s1", "A", keys[1])]), replace="true")
    assert response.status_code == 202
    run = response.get_json()
    assert (run["type"], run["status"], run["params"]) == ("IMPORT_LABELS", "STARTING",
                                                           {"replace": True, "filename": "labels.csv"})
    assert api.queue.enqueued == [run["id"]] and api.queue.seen == ["STARTING"]
    with api.db.session() as session:
        params = session.get(TaskRun, run["id"]).params
    assert params["replace"] is True and Path(params["path"]).is_file()
    assert Path(params["path"]).parent == api.config.data_dir / "uploads"


def test_a_labeling_set_answers_the_models_suggested_groups(api: Api) -> None:
    """The groups stored by the generation, as record keys covering the set once; a set without any: null."""
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    stored = {"uncertain_pairs": 1, "suggested_groups": [[keys[2], keys[9]], [keys[5]], [keys[9], keys[11]]]}
    add_labeling_set(api.db, tid, "set-g", [keys[5], keys[2], keys[9], keys[7]], stored)
    got = api.call("GET", f"/transforms/{tid}/labeling-sets/set-g", api.labeler).get_json()
    # a key repeated or not in the set is dropped; a record the guess left out is a group of its own
    assert got["suggested_groups"] == [[keys[2], keys[9]], [keys[5]], [keys[7]]]
    assert got["reason"] == {"uncertain_pairs": 1}  # the groups are answered once, not in "why this set" too
    add_labeling_set(api.db, tid, "set-old", [keys[5], keys[2]], {"uncertain_pairs": 2})
    assert api.call("GET", f"/transforms/{tid}/labeling-sets/set-old", api.labeler).get_json()[
        "suggested_groups"] is None


def test_labeling_set_get_and_put(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    add_labeling_set(api.db, tid, "set-7", [keys[5], keys[2], keys[9]], {"uncertain_pairs": 2})
    got = api.call("GET", f"/transforms/{tid}/labeling-sets/set-7", api.labeler).get_json()
    assert got["record_keys"] == [keys[5], keys[2], keys[9]]
    assert [r["id"] for r in got["records"]] == [keys[5], keys[2], keys[9]] and got["records"][0]["surname"]
    assert got["reason"] == {"uncertain_pairs": 2} and got["labels"] == []

    labels = [{"record_key": keys[5], "label": "A"}, {"record_key": keys[2], "label": "A"},
              {"record_key": keys[9], "label": ""}]
    put = api.call("PUT", f"/transforms/{tid}/labeling-sets/set-7", api.labeler, json={"labels": labels})
    assert put.status_code == 200
    saved = put.get_json()["labels"]
    assert [(s["record_key"], s["label"], s["labeled_by"]) for s in saved] == [
        (keys[5], "A", "lena"), (keys[2], "A", "lena")]
    assert all(s["labeled_at"].endswith("Z") for s in saved)

    wrong = labels[:1] + [{"record_key": keys[0], "label": "B"}]
    is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/set-7", json={"labels": wrong}), 422,
               "labels[1].record_key")
    twice = [{"record_key": keys[5], "label": "A"}, {"record_key": keys[5], "label": "B"}]
    is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/set-7", json={"labels": twice}), 422,
               "labels[1].record_key")
    is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/set-7", json={"labels": "A"}), 422, "labels")
    with api.db.session() as session:  # failed PUTs changed nothing
        stored = session.execute(select(Label.record_key, Label.labeled_by)).all()
    assert sorted(stored) == sorted([(keys[5], "lena"), (keys[2], "lena")])

    again = api.call("PUT", f"/transforms/{tid}/labeling-sets/set-7",
                     json={"labels": [{"record_key": keys[9], "label": "C"}]})
    assert [(s["record_key"], s["labeled_by"]) for s in again.get_json()["labels"]] == [(keys[9], "alice")]
    sets = api.call("GET", f"/transforms/{tid}/labeling-sets", api.labeler).get_json()["labeling_sets"]
    assert [(s["set_id"], s["size"], s["labeled"]) for s in sets] == [("set-7", 3, 1)]
    is_problem(api.call("GET", f"/transforms/{tid}/labeling-sets/nope"), 404)
