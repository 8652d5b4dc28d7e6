"""The REST API through Flask's test client, on a real SQLite database in a temporary data dir: authentication,
datasets, transforms, error format and the OpenAPI document (task runs and labels: test_api_runs.py).

A fake queue stands in for Celery (see api_support); the worker side is tested with real workers elsewhere.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from api_support import Api, add_labeling_set, files_in, is_problem, people_csv, people_frame, run_core_flow, sqlite_api

from services import labels as label_service
from services import transforms as transform_service
from services.answers import Caller
from storage.models import Dataset, Transform


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def test_core_flow(api: Api) -> None:
    run_core_flow(api)


# -- authentication and roles ------------------------------------------------------------------------------


def test_every_call_needs_a_valid_bearer_token(api: Api) -> None:
    missing = api.call("GET", "/datasets", token="")
    assert is_problem(missing, 401)["detail"].startswith("missing bearer token")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    is_problem(api.call("GET", "/datasets", token="not-a-token"), 401)
    is_problem(api.call("GET", "/datasets", headers={"Authorization": f"Basic {api.admin}"}, token=""), 401)
    health = api.client.get("/healthz").get_json()
    assert (health["status"], health["worker"]) == ("ok", {"supervised": False})


def test_labelers_read_and_label_but_do_not_create(api: Api) -> None:
    transform = api.transform()
    body = {"name": "mine", "dataset_id": transform["dataset_id"], "primary_key": "id"}
    assert "labeler" in is_problem(api.call("POST", "/transforms", api.labeler, json=body), 403)["detail"]
    is_problem(api.upload(people_csv(), token=api.labeler), 403)
    is_problem(api.call("POST", f"/transforms/{transform['id']}/task-runs", api.labeler,
                        json={"type": "FIND_MATCHES"}), 403)
    is_problem(api.call("DELETE", f"/datasets/{transform['dataset_id']}", api.labeler), 403)
    assert api.call("GET", "/transforms", api.labeler).status_code == 200
    assert api.call("GET", f"/datasets/{transform['dataset_id']}", api.labeler).status_code == 200
    assert api.queue.enqueued == []


# -- datasets -----------------------------------------------------------------------------------------------


def test_upload_csv_infers_types_and_keeps_a_string_parquet_copy(api: Api) -> None:
    response = api.upload(people_csv(30), name="people sample")
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/datasets/{body['id']}")
    assert body["name"] == "people sample" and body["source"] == "people.csv" and body["row_count"] == 30
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert list(types) == list(people_frame().columns)
    assert types["email"] == "email" and types["dob"] == "date" and types["surname"] == "person_name"
    assert body["preview"][0]["id"] == "r0000000" and len(body["preview"]) == 20
    stored = pd.read_parquet(api.config.data_dir / "datasets" / f"{body['id']}.parquet")
    assert len(stored) == 30 and all(str(t) in ("object", "str", "string") for t in stored.dtypes)
    assert files_in(api.config.data_dir / "uploads") == []
    listed = api.call("GET", "/datasets").get_json()["datasets"]
    assert [d["id"] for d in listed] == [body["id"]] and "preview" not in listed[0]
    one = api.call("GET", f"/datasets/{body['id']}?preview_rows=3").get_json()
    assert [r["id"] for r in one["preview"]] == ["r0000000", "r0000001", "r0000002"]


def test_upload_parquet_values_become_strings(api: Api, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "amount": [1.0, 2.5, None], "zip": ["02139", "10001", "94105"]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    response = api.upload(path.read_bytes(), "t.parquet")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["preview"][0] == {"id": "1", "amount": "1", "zip": "02139"}
    assert response.get_json()["preview"][2]["amount"] is None


@pytest.mark.parametrize(("data", "filename", "status", "fragment"), [
    (b"id,name\n1,a\n", "people.txt", 415, "expected a CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.csv", 415, "not a CSV file"),
    (b"id,name\n1,a\n", "fake.parquet", 415, "not a Parquet file"),
    (b"id,name,name\n1,a,b\n", "dup.csv", 400, "duplicated column name 'name'"),
    (b"id,name\n", "header.csv", 422, "no data rows"),
    (b"", "empty.csv", 422, "empty"),
])
def test_bad_uploads_are_problems_and_leave_nothing(api: Api, data: bytes, filename: str, status: int,
                                                    fragment: str) -> None:
    body = is_problem(api.upload(data, filename), status)
    assert fragment in body["detail"]
    assert str(api.config.data_dir) not in body["detail"]  # names the user's file, not our path
    assert api.call("GET", "/datasets").get_json()["datasets"] == []
    assert files_in(api.config.data_dir / "uploads") == [] and files_in(api.config.data_dir / "datasets") == []


def test_upload_without_a_file_field(api: Api) -> None:
    is_problem(api.call("POST", "/datasets", data={"other": "x"}, content_type="multipart/form-data"), 422, "file")


def test_dataset_from_a_database_table(tmp_path: Path) -> None:
    exports = tmp_path / "exports"  # the operator allows SQLite files from here (MATCHER_SOURCE_SQLITE_DIR)
    exports.mkdir()
    api = sqlite_api(tmp_path / "service", source_sqlite_dir=exports)
    source = exports / "crm.sqlite"
    with sqlite3.connect(source) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, name TEXT, zip TEXT)")
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(1, "Ann", "02139"), (2, "Bob", None)])
    url = f"sqlite:///{source}"
    response = api.call("POST", "/datasets", json={"database_url": url, "table": "customers"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "customers" and body["row_count"] == 2 and body["source"].endswith("#customers")
    assert body["preview"] == [{"id": "1", "name": "Ann", "zip": "02139"}, {"id": "2", "name": "Bob", "zip": None}]
    is_problem(api.call("POST", "/datasets", json={"database_url": url, "table": "nope"}), 422, "table")
    is_problem(api.call("POST", "/datasets", json={"database_url": "nonsense://", "table": "t"}), 422,
               "database_url")
    is_problem(api.call("POST", "/datasets", json={"table": "t"}), 422, "database_url")


def test_delete_dataset_refused_while_a_transform_uses_it(api: Api) -> None:
    transform = api.transform()
    dataset_id = transform["dataset_id"]
    assert "people" in is_problem(api.call("DELETE", f"/datasets/{dataset_id}"), 409)["detail"]
    assert api.call("DELETE", f"/transforms/{transform['id']}").status_code == 204
    is_problem(api.call("GET", f"/transforms/{transform['id']}"), 404)
    assert api.call("DELETE", f"/datasets/{dataset_id}").status_code == 204
    assert files_in(api.config.data_dir / "datasets") == []
    is_problem(api.call("GET", f"/datasets/{dataset_id}"), 404)


# -- transforms ---------------------------------------------------------------------------------------------


def test_transform_validation_names_the_field(api: Api) -> None:
    dataset_id = api.dataset()["id"]
    base = {"name": "t", "dataset_id": dataset_id, "primary_key": "id"}
    cases = [({"name": ""}, "name"), ({"dataset_id": "missing"}, "dataset_id"), ({"primary_key": "ID"}, "primary_key"),
             ({"source_column": "nope"}, "source_column"), ({"precision_recall_tradeoff": 1.5},
                                                            "precision_recall_tradeoff"),
             ({"accuracy_cost_tradeoff": "high"}, "accuracy_cost_tradeoff"), ({"one_to_one": "yes"}, "one_to_one"),
             ({"colour": "red"}, "colour")]
    for change, field in cases:
        is_problem(api.call("POST", "/transforms", json={**base, **change}), 422, field)
    assert "available" in is_problem(api.call("POST", "/transforms", json={**base, "primary_key": "ID"}), 422)["detail"]
    assert api.call("GET", "/transforms").get_json()["transforms"] == []


def test_non_unique_or_empty_primary_key_names_keys_and_lines(api: Api, tmp_path: Path) -> None:
    """A CSV's rows are named by their line in the file (header = line 1, as the CLI says), a Parquet file's by
    their 1-based data row; a quoted cell spanning two lines shifts the later lines."""
    frame = people_frame(10)
    frame.loc[4, "id"] = frame.loc[1, "id"]
    frame.loc[7, "surname"] = None
    frame.loc[0, "street_address"] = "1 High St\nFlat 2"
    dataset_id = api.upload(frame.to_csv(index=False).encode()).get_json()["id"]
    body = is_problem(api.call("POST", "/transforms", json={"name": "t", "dataset_id": dataset_id,
                                                            "primary_key": "id"}), 422, "primary_key")
    assert "'r0000001' (line 4, line 7)" in body["detail"] and body["line"] == 7 and "row" not in body
    body = is_problem(api.call("POST", "/transforms", json={"name": "t", "dataset_id": dataset_id,
                                                            "primary_key": "surname"}), 422, "primary_key")
    assert "empty on 1 line(s): line 10" in body["detail"] and body["line"] == 10
    frame.to_parquet(tmp_path / "t.parquet")
    dataset_id = api.upload((tmp_path / "t.parquet").read_bytes(), "t.parquet").get_json()["id"]
    body = is_problem(api.call("POST", "/transforms", json={"name": "t", "dataset_id": dataset_id,
                                                            "primary_key": "id"}), 422, "primary_key")
    assert "'r0000001' (row 2, row 5)" in body["detail"] and body["row"] == 5 and "line" not in body


def test_patch_knobs(api: Api) -> None:
    tid = api.transform()["id"]
    assert api.call("GET", f"/transforms/{tid}").get_json()["one_to_one"] is None  # decided from the data
    response = api.call("PATCH", f"/transforms/{tid}", json={"precision_recall_tradeoff": 0.8, "one_to_one": True})
    assert response.status_code == 200
    assert response.get_json()["precision_recall_tradeoff"] == 0.8 and response.get_json()["one_to_one"] is True
    is_problem(api.call("PATCH", f"/transforms/{tid}", json={"accuracy_cost_tradeoff": -0.1}), 422,
               "accuracy_cost_tradeoff")
    is_problem(api.call("PATCH", f"/transforms/{tid}", json={"primary_key": "email"}), 422, "primary_key")
    is_problem(api.call("PATCH", "/transforms/nope", json={"one_to_one": False}), 404)
    current = api.call("GET", f"/transforms/{tid}").get_json()
    assert current["accuracy_cost_tradeoff"] == 0.5 and current["precision_recall_tradeoff"] == 0.8
    back = api.call("PATCH", f"/transforms/{tid}", json={"one_to_one": None})  # back to "decide for me"
    assert back.status_code == 200 and back.get_json()["one_to_one"] is None


def test_status_becomes_ready_once_labels_exist(api: Api) -> None:
    transform = api.transform()
    assert transform["status"] == "NOT_READY" and transform["label_count"] == 0
    keys = people_frame()["id"].tolist()
    add_labeling_set(api.db, transform["id"], "s1", keys[:2])
    label_service.put_set_labels(api.config, api.db, transform["id"], "s1",
                                 {"labels": [{"record_key": keys[0], "label": "A"},
                                             {"record_key": keys[1], "label": "B"}]}, Caller("alice", "labeler"))
    info = transform_service.get_transform(api.db, transform["id"])
    assert (info.status, info.label_count) == ("READY", 2)
    listed = api.call("GET", "/transforms").get_json()["transforms"]
    assert [(t["status"], t["label_count"]) for t in listed] == [("READY", 2)]


# -- errors, documentation ----------------------------------------------------------------------------------


def test_http_errors_are_problem_json(api: Api) -> None:
    is_problem(api.call("GET", "/no-such-thing"), 404)
    is_problem(api.call("POST", "/transforms", data="{not json", content_type="application/json"), 400)
    is_problem(api.call("POST", "/transforms", json=["a list"]), 422)
    is_problem(api.call("POST", "/transforms", data="name=x", content_type="text/plain"), 415)
    response = api.call("PUT", "/datasets")
    is_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_openapi_document_is_valid_and_complete(api: Api) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    spec = api.call("GET", "/openapi.json", api.labeler).get_json()
    validator.validate(spec)
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item
                  if method != "parameters"}
    for rule in api.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_models_round_trip_through_the_api(api: Api) -> None:
    """Rows written by the API carry who created them."""
    transform = api.transform()
    with api.db.session() as session:
        creators = {session.get(Transform, transform["id"]).created_by,
                    session.get(Dataset, transform["dataset_id"]).created_by}
    assert len(creators) == 1 and None not in creators


# -- ad-hoc labeling sets (the Matches page) ---------------------------------------------------------------


def test_post_an_ad_hoc_labeling_set_creates_the_set_and_its_labels(api: Api) -> None:
    import uuid

    from matcher.active import SET_NAMESPACE

    tid = api.transform()["id"]
    body = {"records": ["r0000002", "r0000001"], "labels": ["c1", "c1"]}
    response = api.call("POST", f"/transforms/{tid}/labeling-sets", api.labeler, json=body)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["set_id"] == str(uuid.uuid5(SET_NAMESPACE, "r0000001|r0000002"))
    assert response.headers["Location"].endswith(f"/transforms/{tid}/labeling-sets/{made['set_id']}")
    assert made["record_keys"] == ["r0000002", "r0000001"] and made["records"][0]["id"] == "r0000002"
    assert {(x["record_key"], x["label"], x["labeled_by"]) for x in made["labels"]} == {
        ("r0000001", "c1", "lena"), ("r0000002", "c1", "lena")}
    assert api.call("GET", f"/transforms/{tid}").get_json()["label_count"] == 2
    # the same records again (any order): the same set, its labels replaced (a split), 200
    again = api.call("POST", f"/transforms/{tid}/labeling-sets",
                     json={"records": ["r0000001", "r0000002"], "labels": ["c1", "c1-split"]})
    assert again.status_code == 200 and again.get_json()["set_id"] == made["set_id"]
    assert {x["record_key"]: x["label"] for x in again.get_json()["labels"]} == {"r0000001": "c1",
                                                                                  "r0000002": "c1-split"}
    listed = api.call("GET", f"/transforms/{tid}/labeling-sets").get_json()["labeling_sets"]
    assert [(s["set_id"], s["size"], s["labeled"]) for s in listed] == [(made["set_id"], 2, 2)]
    cases = [({"records": ["r0000001"], "labels": ["a"]}, "records"),
             ({"records": ["r0000001", "r0000001"], "labels": ["a", "a"]}, "records"),
             ({"records": ["r0000001", "nope"], "labels": ["a", "a"]}, "records"),
             ({"records": ["r0000001", "r0000002"], "labels": ["a"]}, "labels"),
             ({"records": ["r0000001", "r0000002"], "labels": ["a", " "]}, "labels[1]")]
    for bad, field in cases:
        is_problem(api.call("POST", f"/transforms/{tid}/labeling-sets", json=bad), 422, field)
    is_problem(api.call("POST", f"/transforms/{tid}/labeling-sets", json={**body, "extra": 1}), 422)
    is_problem(api.call("POST", "/transforms/missing/labeling-sets", json=body), 404)
