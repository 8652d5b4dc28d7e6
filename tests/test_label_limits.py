"""One label length for every way in (issue 15): the web UI's cap (200 characters) now holds for labels files
too (API import and ``--labels``), and errors echo at most ~80 characters of any value, whatever was sent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from api_support import Api, count_runs, files_in, is_problem, labels_csv, people_csv, people_frame, sqlite_api
from cli_support import assert_one_line_error, run

from matcher.labels import MAX_LABEL_LENGTH
from services import labels as label_service
from storage.models import Label, LabelingSet

HUGE = "x" * 1_000_000


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def post_labels(api: Api, tid: str, data: bytes) -> object:
    return api.call("POST", f"/transforms/{tid}/labels", data={"file": (io.BytesIO(data), "labels.csv")},
                    content_type="multipart/form-data")


def short(body: dict) -> dict:
    """Nothing of the 1 MB value beyond a few dozen characters comes back."""
    assert len(json.dumps(body)) < 1000, len(json.dumps(body))
    return body


def test_one_constant_for_the_ui_the_import_and_the_database() -> None:
    assert MAX_LABEL_LENGTH == 200
    assert Label.__table__.c.label.type.length == MAX_LABEL_LENGTH
    assert Label.__table__.c.labeling_set_id.type.length == LabelingSet.__table__.c.set_id.type.length
    assert not hasattr(label_service, "MAX_LABEL")  # the service uses the core's constant, no copy of it


@pytest.mark.parametrize(("row", "fragment"), [
    (("s1", HUGE, None), "label longer than 200 characters on 1 line(s): line 3"),
    (("s1", "x" * 201, None), "label longer than 200 characters on 1 line(s): line 3"),
    ((HUGE, "A", None), "labeling_set_id longer than 200 characters on 1 line(s): line 3"),
    (("s1", "A", HUGE), "labeled line(s) have primary keys not in the data"),
])
def test_an_imported_label_has_the_uis_cap_and_the_error_stays_short(api: Api, row: tuple, fragment: str) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    set_id, label, key = row
    data = labels_csv([("s1", "A", keys[0]), (set_id, label, key or keys[1])])
    body = short(is_problem(post_labels(api, tid, data), 400))
    assert fragment in body["detail"]
    assert "(1000000 characters)" in body["detail"] or HUGE not in (set_id, label, key)
    assert count_runs(api.db) == 0 and files_in(api.config.data_dir / "uploads") == []


def test_a_label_of_exactly_the_cap_is_imported(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    data = labels_csv([("s1", "y" * MAX_LABEL_LENGTH, keys[0]), ("s1", "z", keys[1])])
    response = post_labels(api, tid, data)
    assert response.status_code == 202, response.get_json()


def test_the_ui_path_has_the_same_cap_and_short_errors(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    body = api.call("POST", f"/transforms/{tid}/labeling-sets", api.labeler,
                    json={"records": keys[:2], "labels": ["A", "x" * (MAX_LABEL_LENGTH + 1)]})
    short(is_problem(body, 422, "labels[1]"))
    for record_key in (HUGE, keys[5]):
        body = api.call("PUT", f"/transforms/{tid}/labeling-sets/nope", api.labeler,
                        json={"labels": [{"record_key": record_key, "label": "A"}]})
        short(is_problem(body, 404))
    body = short(is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/{HUGE[:5000]}", api.labeler,
                                     json={"labels": []}), 404))
    assert "characters)" in body["detail"]


def test_unknown_fields_and_values_are_echoed_briefly(api: Api) -> None:
    tid = api.transform()["id"]
    body = short(is_problem(api.call("PATCH", f"/transforms/{tid}", json={HUGE: 1}), 422))
    assert "(1000000 characters)" in body["detail"] and len(body["field"]) <= 120
    short(is_problem(api.call("POST", f"/transforms/{tid}/task-runs", json={"type": HUGE}), 422, "type"))
    short(is_problem(api.call("PATCH", f"/transforms/{tid}", json={"precision_recall_tradeoff": HUGE}), 422))
    short(is_problem(api.call("GET", f"/task-runs/x/output?format={HUGE[:20000]}"), 422, "format"))


def test_a_missing_column_lists_a_few_of_2000_columns(api: Api) -> None:
    tid = api.transform()["id"]
    header = ",".join(f"column_{i}" for i in range(2000))
    data = f"{header}\n{','.join('v' for _ in range(2000))}\n".encode()
    body = short(is_problem(post_labels(api, tid, data), 400))
    assert "'column_19' and 1980 more" in body["detail"]


def test_the_cli_applies_the_same_cap(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data, labels = tmp_path / "people.csv", tmp_path / "labels.csv"
    data.write_bytes(people_csv(30))
    keys = people_frame(30)["id"].tolist()
    labels.write_bytes(labels_csv([("s1", "A", keys[0]), ("s1", HUGE, keys[1])]))
    code, out, err = run(capsys, "match", data, "--primary-key", "id", "--labels", labels,
                         "--output", tmp_path / "out.csv")
    assert_one_line_error(code, out, err, "label longer than 200 characters on 1 line(s): line 3")
    assert len(err) < 600
