"""Glue FindMatches labeling semantics: pairs within sets, validation, contradictions, append, export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from matcher.errors import LabelError
from matcher.io import read_table, write_table
from matcher.labels import Labels, read_labels

FIXTURES = Path(__file__).parent / "fixtures" / "labels"
HEADER = "labeling_set_id,label,id,name\n"


@pytest.fixture
def records() -> pd.DataFrame:
    return read_table(FIXTURES / "records.csv", "id")


@pytest.fixture
def basic() -> Labels:
    return read_labels(FIXTURES / "basic.csv", "id")


def pair_verdicts(labels: Labels) -> dict[tuple[str, str, str], bool]:
    pairs = labels.pairs()
    return {(row.labeling_set_id, row.key_a, row.key_b): bool(row.is_match) for row in pairs.itertuples()}


def label_error(tmp_path: Path, body: str, known_keys: list[str] | None = None) -> str:
    path = tmp_path / "labels.csv"
    path.write_text(body)
    with pytest.raises(LabelError) as info:
        read_labels(path, "id", known_keys=known_keys)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- semantics -------------------------------------------------------------------------------


def test_same_label_matches_and_different_labels_do_not() -> None:
    labels = read_labels(
        pd.DataFrame({"labeling_set_id": [1, 1, 1], "label": ["A", "A", "B"], "id": [1, 2, 3]}), "id"
    )

    assert pair_verdicts(labels) == {("1", "1", "2"): True, ("1", "1", "3"): False, ("1", "2", "3"): False}
    assert labels.summary()["n_match_pairs"] == 1
    assert labels.summary()["n_nonmatch_pairs"] == 2


def test_labels_never_cross_sets_and_are_case_sensitive(basic: Labels) -> None:
    assert pair_verdicts(basic) == {
        ("s1", "r1", "r2"): True,
        ("s1", "r1", "r3"): False,
        ("s1", "r2", "r3"): False,
        ("s2", "r3", "r4"): False,  # 'A' vs 'a'
        ("s3", "r6", "r7"): True,
    }  # r1 (A in s1) and r3 (A in s2) are never paired


def test_rows_hold_only_labeled_rows_as_strings(basic: Labels) -> None:
    assert list(basic.rows.columns) == ["labeling_set_id", "key", "label", "labeled_by", "labeled_at"]
    assert basic.rows["key"].tolist() == ["r1", "r2", "r3", "r3", "r4", "r6", "r7"]
    assert basic.rows["labeled_by"].isna().all()
    assert basic.key_set() == {"r1", "r2", "r3", "r4", "r6", "r7"}


def test_empty_labels_are_counted_not_errors(basic: Labels) -> None:
    assert basic.n_unlabeled == 2
    assert basic.summary() == {
        "n_sets": 3,
        "n_labeled_rows": 7,
        "n_unlabeled": 2,
        "n_match_pairs": 2,
        "n_nonmatch_pairs": 3,
    }


def test_pairs_are_canonical_and_typed() -> None:
    frame = pd.DataFrame({"labeling_set_id": ["s"] * 3, "label": ["A", "A", "B"], "id": ["z", "b", "m"]})

    pairs = read_labels(frame, "id").pairs()

    assert list(pairs.columns) == ["key_a", "key_b", "is_match", "labeling_set_id"]
    assert pairs["is_match"].dtype == bool
    assert (pairs["key_a"] < pairs["key_b"]).all()
    assert Labels.empty().pairs()["is_match"].dtype == bool


def test_provenance_columns_are_carried_through() -> None:
    labels = read_labels(FIXTURES / "provenance.csv", "id")

    assert labels.rows["labeled_by"].tolist() == ["ana", "ana", None]
    assert labels.rows["labeled_at"].tolist()[0] == "2024-05-01T10:00:00Z"


def test_known_keys_accept_labels_about_the_data(records: pd.DataFrame) -> None:
    labels = read_labels(FIXTURES / "basic.csv", "id", known_keys=records["id"])

    assert len(labels.rows) == 7


# --- contradictions --------------------------------------------------------------------------


def test_contradictions_report_both_set_ids() -> None:
    labels = read_labels(FIXTURES / "contradiction.csv", "id")

    found = labels.contradictions()

    assert found.to_dict("records") == [
        {"key_a": "r1", "key_b": "r2", "match_set_ids": ["s1", "s3"], "nonmatch_set_ids": ["s2"]}
    ]


def test_consistent_labels_have_no_contradictions(basic: Labels) -> None:
    found = basic.contradictions()

    assert found.empty
    assert list(found.columns) == ["key_a", "key_b", "match_set_ids", "nonmatch_set_ids"]


# --- append and export -----------------------------------------------------------------------


def test_append_replaces_a_whole_set_and_keeps_the_others(basic: Labels) -> None:
    newer = read_labels(FIXTURES / "newer.csv", "id")

    merged = basic.append(newer)

    by_set = merged.rows.groupby("labeling_set_id")["key"].apply(list).to_dict()
    assert by_set == {
        "s1": ["r1", "r2", "r3"],
        "s2": ["r3", "r4", "r5"],
        "s3": ["r6", "r7"],
        "s4": ["r1", "r8"],
    }
    assert pair_verdicts(merged)[("s2", "r3", "r4")] is True  # the old 'A' vs 'a' verdict is gone
    assert merged.n_unlabeled == 1  # the unlabeled row of the replaced set s2 went with it
    assert basic.summary()["n_labeled_rows"] == 7  # the original is untouched


def test_append_to_empty_labels(basic: Labels) -> None:
    merged = Labels.empty().append(basic)

    assert merged.rows.equals(basic.rows)
    assert merged.n_unlabeled == basic.n_unlabeled


def test_export_uses_the_labels_file_format(basic: Labels, records: pd.DataFrame) -> None:
    exported = basic.to_frame(records, "id")

    assert list(exported.columns) == ["labeling_set_id", "label", "id", "name", "city"]
    assert exported.iloc[0].tolist() == ["s1", "A", "r1", "Ada Lovelace", "London"]


@pytest.mark.parametrize("name", ["basic.csv", "provenance.csv"])
def test_export_then_reimport_round_trips(tmp_path: Path, records: pd.DataFrame, name: str) -> None:
    labels = read_labels(FIXTURES / name, "id")
    write_table(labels.to_frame(records, "id"), tmp_path / "export.csv")

    again = read_labels(tmp_path / "export.csv", "id", known_keys=records["id"])

    assert again.rows.equals(labels.rows)


def test_export_needs_every_labeled_record(basic: Labels, records: pd.DataFrame) -> None:
    with pytest.raises(LabelError, match=r"1 labeled key\(s\) are not in the records: 'r7'"):
        basic.to_frame(records[records["id"] != "r7"], "id")


# --- validation errors -----------------------------------------------------------------------


def test_missing_labeling_columns(tmp_path: Path) -> None:
    message = label_error(tmp_path, "set,id,name\ns1,r1,a\n")

    assert "labels need column 'labeling_set_id' and 'label'" in message
    assert "available columns: 'set', 'id', 'name'" in message


def test_missing_primary_key_column(tmp_path: Path) -> None:
    message = label_error(tmp_path, "labeling_set_id,label,key\ns1,A,r1\n")

    assert "primary key column 'id' not found" in message


def test_unknown_primary_keys_name_keys_and_lines(tmp_path: Path) -> None:
    body = HEADER + "s1,A,r1,a\ns1,B,zz,b\ns1,,nope,c\ns2,A,yy,d\n"

    message = label_error(tmp_path, body, known_keys=["r1", "r2"])

    assert "2 labeled line(s) have primary keys not in the data" in message
    assert "'zz' (line 3), 'yy' (line 5)" in message
    assert "nope" not in message  # unlabeled rows are not validated


def test_oversized_set_names_set_and_size(tmp_path: Path) -> None:
    body = HEADER + "".join(f"big,L{i % 3},r{i},x\n" for i in range(51)) + "ok,A,r1,x\n"

    message = label_error(tmp_path, body)

    assert "'big' has 51 labeled records" in message
    assert "at most 50" in message


def test_a_set_of_exactly_fifty_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(HEADER + "".join(f"s,L{i % 2},r{i},x\n" for i in range(50)))

    assert read_labels(path, "id").summary()["n_match_pairs"] == 2 * (25 * 24 // 2)


def test_same_record_twice_in_a_set(tmp_path: Path) -> None:
    body = HEADER + "s1,A,r1,a\ns2,A,r1,a\ns1,B,r1,a\n"

    message = label_error(tmp_path, body)

    assert "record 'r1' appears 2 times in labeling set 's1' (line 2, line 4)" in message


def test_a_file_without_any_label(tmp_path: Path) -> None:
    message = label_error(tmp_path, HEADER + "s1,,r1,a\ns1, ,r2,b\n")

    assert "no labels at all" in message
    assert "all 2 lines" in message


@pytest.mark.parametrize(
    ("row", "problem"),
    [(",A,r1,a", "labeling_set_id is empty"), ("s1,A,,a", "primary key 'id' is empty")],
)
def test_labeled_rows_need_a_set_and_a_key(tmp_path: Path, row: str, problem: str) -> None:
    message = label_error(tmp_path, HEADER + "s1,A,r2,b\n" + row + "\n")

    assert f"{problem} on 1 labeled line(s): line 3" in message


def test_file_level_problems_are_label_errors(tmp_path: Path) -> None:
    message = label_error(tmp_path, "")

    assert "file is empty" in message


def test_dataframe_errors_point_at_rows() -> None:
    frame = pd.DataFrame({"labeling_set_id": ["s1", "s1"], "label": ["A", "B"], "id": ["r1", "r1"]})

    with pytest.raises(LabelError, match=r"labeling set 's1' \(row 1, row 2\)"):
        read_labels(frame, "id")
