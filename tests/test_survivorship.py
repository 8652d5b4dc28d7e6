"""Golden records: every rule on hand-made entities (ties, empties, unparseable dates), provenance, the default
rules, settings errors, and random frames checked against a record-by-record reference of the documented rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from matcher import column_types
from matcher.errors import InputError, SettingsError
from matcher.survivorship import RULES, ColumnRule, default_rule, golden_records, rules_from_dict


def frame(**columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def plain(values: pd.Series) -> list[Any]:
    """A column as a list with every kind of NA as None."""
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v for v in values]


def pick(records: pd.DataFrame, ids: list[int], column: str, rule: ColumnRule) -> list[tuple[Any, Any]]:
    """(value, provenance key) of ``column`` per entity."""
    out = golden_records(records, np.array(ids), "id", {column: rule})
    return list(zip(plain(out[column]), plain(out[column + "__from"]), strict=True))


# --- each rule on hand-made entities ------------------------------------------------------------------------------


def test_most_frequent_counts_stripped_values_and_breaks_ties_by_length_then_key():
    records = frame(id=["a", "b", "c", "d", "e", "f", "g", "h", "i"],
                    name=[" Ann", "Ann", "Anne", "Bo", "Bob", "Bob", "Cy", "Di", None])
    ids = [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert pick(records, ids, "name", ColumnRule("most_frequent")) == [
        (" Ann", "a"),  # "Ann" twice beats "Anne" once; of its two records the smaller key, raw value kept
        ("Bob", "e"),  # "Bob" twice beats "Bo" once
        ("Cy", "g"),  # "Cy" and "Di" once each, same length: the smaller key; the empty "i" never wins
    ]
    tie = frame(id=["a", "b", "c", "d"], name=["Jo", "Jo", "John", "John"])
    assert pick(tie, [7, 7, 7, 7], "name", ColumnRule("most_frequent")) == [("John", "c")]  # 2 vs 2: longest


def test_most_recent_takes_the_latest_dated_non_empty_value_and_unparseable_dates_count_as_oldest():
    records = frame(id=["a", "b", "c", "d", "e", "f", "g"],
                    email=["old@x", "new@x", "", "mid@x", "bad@x", "none@x", "ok@x"],
                    updated=["2020-01-01", "2021/03/04", "2030-01-01", "2020-06-01T10:00:00+02:00", "not a date",
                             "", "1999-12-31"])
    ids = [1, 1, 1, 1, 2, 2, 2]
    # "c" is the latest but its email is empty; "b" is in another format than the column's first value
    assert pick(records, ids, "email", ColumnRule("most_recent", date_column="updated")) == [
        ("new@x", "b"), ("ok@x", "g")]
    undated = frame(id=["b", "a"], email=["x@b", "x@a"], updated=["garbage", None])
    assert pick(undated, [5, 5], "email", ColumnRule("most_recent", date_column="updated")) == [("x@a", "a")]


def test_longest_ignores_surrounding_whitespace_and_breaks_ties_by_the_key_as_a_string():
    records = frame(id=["a", "b", "c", "10", "9"], city=["Rome  ", "Paris", "   ", "Oslo", "Kyiv"])
    assert pick(records, [1, 1, 1, 2, 2], "city", ColumnRule("longest")) == [("Paris", "b"), ("Oslo", "10")]


def test_integer_keys_tie_break_as_strings_and_stay_integers_in_the_provenance():
    records = pd.DataFrame({"id": [9, 10, 11], "city": ["Oslo", "Kyiv", None]})
    out = golden_records(records, np.array([1, 1, 2]), "id", {"city": ColumnRule("longest")})
    assert plain(out["city"]) == ["Kyiv", None]  # "10" < "9" as strings
    assert plain(out["city__from"]) == [10, None]
    assert isinstance(out["city__from"].iloc[0], int | np.integer)


def test_source_order_prefers_listed_sources_then_unlisted_by_name_then_records_without_a_source():
    records = frame(id=["a", "b", "c", "d", "e", "f", "g", "h"],
                    phone=["1", "2", "3", "4", "5", "6", "7", ""],
                    src=["crm", "web ", "shop", "zoo", "bank", "", "web", "crm"])
    rule = ColumnRule("source_order", source_column="src", source_order=("web", "crm"))
    ids = [1, 1, 1, 2, 2, 2, 3, 3]
    # 1: "web" (stripped) is listed first; 2: none listed, "bank" < "zoo"; 3: "crm" has an empty phone
    assert pick(records, ids, "phone", rule) == [("2", "b"), ("5", "e"), ("7", "g")]
    assert pick(records, [1, 1, 1, 2, 2, 9, 3, 3], "phone", rule)[3] == ("6", "f")  # only a sourceless record


def test_most_complete_takes_the_value_of_the_fullest_record_that_has_one():
    records = frame(id=["a", "b", "c", "d", "e"],
                    name=["Al", "Alan", "A", "Bea", "Bee"],
                    phone=["1", None, "3", "", "5"],
                    city=[" ", "Rome", "Oslo", "Kyiv", "Lima"])
    ids = [1, 1, 1, 2, 2]
    # a: 2 filled, b: 2, c: 3 -> c; d: 2, e: 3 -> e
    assert pick(records, ids, "name", ColumnRule("most_complete")) == [("A", "c"), ("Bee", "e")]
    assert pick(records, [1, 1, 2, 2, 2], "name", ColumnRule("most_complete"))[0] == ("Al", "a")  # 2 vs 2: key
    assert pick(records, ids, "city", ColumnRule("most_complete")) == [("Oslo", "c"), ("Lima", "e")]
    assert pick(records, [1, 1, 2, 2, 3], "phone", ColumnRule("most_complete")) == [
        ("1", "a"), ("3", "c"), ("5", "e")]


@pytest.mark.parametrize("rule", [ColumnRule(r) for r in ("most_frequent", "longest", "most_complete")]
                         + [ColumnRule("most_recent", date_column="date"),
                            ColumnRule("source_order", source_column="date", source_order=("x",))])
def test_an_entity_with_the_column_empty_everywhere_gets_na_and_no_provenance(rule):
    records = frame(id=["a", "b", "c"], note=[None, "  ", "hi"], date=["2020-01-01", "", "x"])
    out = golden_records(records, np.array([4, 4, 5]), "id", {"note": rule})
    assert out["match_id"].tolist() == [4, 5]
    assert out["records"].tolist() == [2, 1]
    assert plain(out["note"]) == [None, "hi"]
    assert plain(out["note__from"]) == [None, "c"]


def test_output_columns_order_and_default_rule_for_unlisted_columns():
    records = frame(name=["Jo", "Jo", "Joanna"], id=["x", "y", "z"], city=["a", "bb", "bb"])
    out = golden_records(records, np.array([3, 3, 3]), "id", {"name": ColumnRule("longest")})
    assert list(out.columns) == ["match_id", "records", "name", "name__from", "city", "city__from"]
    assert out.iloc[0].tolist() == [3, 3, "Joanna", "z", "bb", "y"]
    out = golden_records(records, np.array([3, 3, 3]), "id", {}, default=ColumnRule("longest"))
    assert plain(out["name"]) == ["Joanna"]


def test_no_records_give_no_entities():
    out = golden_records(frame(id=[], name=[]), np.array([], dtype=np.int64), "id", {})
    assert len(out) == 0
    assert list(out.columns) == ["match_id", "records", "name", "name__from"]


# --- defaults and settings ----------------------------------------------------------------------------------------


def test_default_rules_per_column_type():
    for name in column_types.REGISTRY:
        assert default_rule(name) == ColumnRule("most_frequent"), name
    assert default_rule(column_types.IGNORE) == ColumnRule("most_complete")
    for name in column_types.names():
        assert default_rule(name).rule in RULES
    with pytest.raises(SettingsError, match="unknown column type 'address'.*person_name"):
        default_rule("address")


def test_rules_from_dict_parses_every_rule():
    columns = ["name", "email", "updated", "src"]
    rules = rules_from_dict({
        "name": {"rule": "most_frequent"},
        "email": {"rule": "most_recent", "date_column": "updated"},
        "updated": {"rule": "longest"},
        "src": {"rule": "source_order", "source_column": "src", "source_order": ["crm", "web"]},
    }, columns)
    assert rules == {
        "name": ColumnRule("most_frequent"),
        "email": ColumnRule("most_recent", date_column="updated"),
        "updated": ColumnRule("longest"),
        "src": ColumnRule("source_order", source_column="src", source_order=("crm", "web")),
    }
    assert rules_from_dict({}, columns) == {}


@pytest.mark.parametrize(("values", "message"), [
    ({"name": {"rule": "newest"}}, r"column 'name': unknown rule 'newest'; allowed rules: most_frequent, most_recent, "
                                   r"longest, source_order, most_complete"),
    ({"name": {}}, r"column 'name': unknown rule None; allowed rules: most_frequent"),
    ({"nmae": {"rule": "longest"}}, r"column 'nmae': unknown column; columns: 'name', 'updated', 'src'"),
    ({"name": {"rule": "most_recent"}}, r"column 'name': rule most_recent needs a date_column"),
    ({"name": {"rule": "most_recent", "date_column": "when"}}, r"column 'name': date_column 'when' is not a column"),
    ({"name": {"rule": "source_order"}}, r"column 'name': rule source_order needs a source_column"),
    ({"name": {"rule": "source_order", "source_column": "src", "source_order": "crm"}},
     r"column 'name': source_order must be a list of source names"),
    ({"name": {"rule": "longest", "date_column": "updated"}}, r"column 'name': date_column only applies to rule "
                                                              r"most_recent"),
    ({"name": {"rule": "longest", "source_order": ["crm"]}}, r"column 'name': source_order only applies"),
    ({"name": {"rule": "longest", "order": 1}}, r"column 'name': unknown keys 'order'"),
    ({"name": "longest"}, r"column 'name': must be an object.*allowed rules: most_frequent"),
    (["name"], r"must be an object of column -> rule"),
])
def test_rules_from_dict_rejects_invalid_rules_naming_the_column(values, message):
    with pytest.raises(SettingsError, match=message):
        rules_from_dict(values, ["name", "updated", "src"])


def test_golden_records_rejects_bad_input():
    records = frame(id=["a", "b"], name=["x", "y"])
    with pytest.raises(SettingsError, match="column 'city': unknown column"):
        golden_records(records, np.array([1, 1]), "id", {"city": ColumnRule("longest")})
    with pytest.raises(SettingsError, match="needs a date_column"):
        golden_records(records, np.array([1, 1]), "id", {"name": ColumnRule("most_recent")})
    with pytest.raises(SettingsError, match="default survivorship rule: unknown rule 'best'"):
        golden_records(records, np.array([1, 1]), "id", {}, default=ColumnRule("best"))
    with pytest.raises(InputError, match="3 match ids for 2 records"):
        golden_records(records, np.array([1, 1, 2]), "id", {})
    with pytest.raises(InputError, match="primary key 'key'"):
        golden_records(records, np.array([1, 1]), "key", {})
    with pytest.raises(InputError, match="duplicate"):
        golden_records(frame(id=["a", "a"], name=["x", "y"]), np.array([1, 2]), "id", {})
    with pytest.raises(InputError, match="'records'"):
        golden_records(frame(id=["a"], records=["x"]), np.array([1]), "id", {})


# --- random frames against a reference of the documented rules ---------------------------------------------------

WORDS = ["Ann", "Anne", " Ann", "Bob", "Robert", "", "  ", None, "Al", "Li"]
DATES = ["2020-01-01", "2021-06-30", "2019-12-31T23:00:00", "2021-06-30", "garbage", "", None]
SOURCES = ["crm", "web", "shop", "bank", "", None]
RANDOM_RULES = {
    "a": ColumnRule("most_frequent"),
    "b": ColumnRule("most_recent", date_column="updated"),
    "c": ColumnRule("longest"),
    "d": ColumnRule("source_order", source_column="src", source_order=("web", "crm")),
    "e": ColumnRule("most_complete"),
}


def random_records(rng: np.random.Generator, n: int, entities: int) -> tuple[pd.DataFrame, np.ndarray]:
    columns: dict[str, Any] = {"id": [f"k{i}" for i in rng.permutation(n)]}
    for column in RANDOM_RULES:
        columns[column] = [WORDS[i] for i in rng.integers(0, len(WORDS), n)]
    columns["updated"] = [DATES[i] for i in rng.integers(0, len(DATES), n)]
    columns["src"] = [SOURCES[i] for i in rng.integers(0, len(SOURCES), n)]
    return frame(**columns), rng.integers(0, entities, n) * 7 - 20  # negative and sparse ids too


def clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value).strip() or None


def reference_rank(records: pd.DataFrame, row: int, column: str, rule: ColumnRule, rows: list[int]) -> tuple:
    """The rule's preference for a record as a tuple, smaller first, written from the module docstring."""
    value = clean(records[column].iloc[row])
    assert value is not None
    if rule.rule == "most_frequent":
        count = sum(clean(records[column].iloc[r]) == value for r in rows)
        return (-count, -len(value))
    if rule.rule == "most_recent":
        date = pd.to_datetime(clean(records[rule.date_column].iloc[row]), errors="coerce", utc=True)
        return (1, 0) if pd.isna(date) else (0, -date.value)  # no date: after every dated record
    if rule.rule == "longest":
        return (-len(value),)
    if rule.rule == "source_order":
        source = clean(records[rule.source_column].iloc[row])
        names = sorted({s for r in records[rule.source_column] if (s := clean(r)) and s not in rule.source_order})
        if source is None:
            return (len(rule.source_order) + len(names),)
        return (rule.source_order.index(source) if source in rule.source_order
                else len(rule.source_order) + names.index(source),)
    filled = sum(clean(records[c].iloc[row]) is not None for c in records.columns if c != "id")
    return (-filled,)


def reference(records: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    out: list[dict[str, Any]] = []
    for match_id in sorted(set(ids.tolist())):
        rows = [i for i in range(len(records)) if ids[i] == match_id]
        result: dict[str, Any] = {"match_id": match_id, "records": len(rows)}
        for column in [c for c in records.columns if c != "id"]:
            rule = RANDOM_RULES.get(column, ColumnRule("most_frequent"))
            candidates = [r for r in rows if clean(records[column].iloc[r]) is not None]
            best = min(candidates, key=lambda r: (*reference_rank(records, r, column, rule, rows),
                                                  str(records["id"].iloc[r])), default=None)
            result[column] = None if best is None else records[column].iloc[best]
            result[column + "__from"] = None if best is None else records["id"].iloc[best]
        out.append(result)
    return pd.DataFrame(out)


def as_rows(table: pd.DataFrame) -> list[list[Any]]:
    return [plain(table[c]) for c in table.columns]


@pytest.mark.parametrize("seed", range(6))
def test_random_frames_match_the_reference_of_the_documented_rules(seed):
    rng = np.random.default_rng(seed)
    records, ids = random_records(rng, 120, 25)
    out = golden_records(records, ids, "id", RANDOM_RULES)
    expected = reference(records, ids)
    assert list(out.columns) == list(expected.columns)
    assert as_rows(out) == as_rows(expected)


def test_provenance_keys_hold_exactly_the_chosen_values():
    rng = np.random.default_rng(11)
    records, ids = random_records(rng, 3000, 400)
    out = golden_records(records, ids, "id", RANDOM_RULES)
    by_key = records.set_index("id")
    entity_of = dict(zip(records["id"], ids, strict=True))
    checked = 0
    for column in [c for c in records.columns if c != "id"]:
        for match_id, value, key in zip(out["match_id"], plain(out[column]), plain(out[column + "__from"]),
                                        strict=True):
            if key is None:
                assert value is None
                assert all(clean(v) is None for v in records[column][ids == match_id])
                continue
            assert by_key.loc[key, column] == value
            assert entity_of[key] == match_id
            assert clean(value) is not None
            checked += 1
    assert checked > 2000


def test_row_order_does_not_change_the_result():
    rng = np.random.default_rng(5)
    records, ids = random_records(rng, 5000, 600)
    out = golden_records(records, ids, "id", RANDOM_RULES)
    for _ in range(3):
        order = rng.permutation(len(records))
        shuffled = golden_records(records.iloc[order].reset_index(drop=True), ids[order], "id", RANDOM_RULES)
        assert as_rows(shuffled) == as_rows(out)


def test_a_200k_record_frame_gives_one_row_per_entity():
    rng = np.random.default_rng(2)
    n = 200_000
    words = np.array(["alpha", "beta", "gamma", "delta", "", "epsilon zeta", "eta", None], dtype=object)
    records = pd.DataFrame({"id": np.char.add("r", np.arange(n).astype(str)).astype(object)})
    for column in ("a", "b", "c", "d", "e", "src"):
        records[column] = words[rng.integers(0, len(words), n)]
    records["updated"] = pd.Series(pd.to_datetime(rng.integers(10**9, 17 * 10**8, n), unit="s")).dt.strftime(
        "%Y-%m-%d").astype(object)
    ids = rng.integers(0, 60_000, n)
    out = golden_records(records, ids, "id", RANDOM_RULES)
    assert out["match_id"].tolist() == np.unique(ids).tolist()
    assert int(out["records"].sum()) == n
    empty_everywhere = out["a__from"].isna()
    assert out.loc[~empty_everywhere, "a"].notna().all()


@pytest.mark.parametrize("seed", range(4))
def test_sorting_by_folded_keys_equals_a_lexsort_whatever_the_key_ranges(seed):
    from matcher.survivorship import _order  # the one place an int64 overflow could hide: checked head-on

    rng = np.random.default_rng(seed)
    n = 2000
    wide = rng.integers(-(2**62), 2**62, n)  # a range too wide to fold, and values whose difference overflows
    keys = [rng.integers(0, 50, n), -rng.integers(0, 3, n), wide, rng.integers(-(2**40), 2**40, n) // 2**30,
            rng.permutation(n)]
    for used in ([0, 4], [0, 1, 4], [0, 2, 4], [2, 1, 3, 4], [0, 1, 2, 3, 4], [3, 0, 1, 4]):
        chosen = [keys[i] for i in used]
        assert _order(chosen).tolist() == np.lexsort(chosen[::-1]).tolist(), used
