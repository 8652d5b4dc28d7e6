"""Stable match ids: hand-made cases for every rule, and random cases checked against invariants and a
record-by-record reference implementation of the documented rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from matcher.stable_ids import CHANGE_COLUMNS, Reconciled, reconcile

RANDOM_CASES = 200

Row = tuple[int, str, str, int, int]


def run(old_ids: list[int], labels: list[int], before: dict[int, int], next_id: int) -> Reconciled:
    return reconcile(np.array(old_ids, dtype=np.int64), np.array(labels, dtype=np.int64), before, next_id)


def rows(result: Reconciled) -> list[Row]:
    return [
        (int(r.match_id), str(r.change), str(r.related_ids), int(r.records_before), int(r.records_after))
        for r in result.changes.itertuples(index=False)
    ]


# --- the rules, case by case --------------------------------------------------------------------------------------


def test_unchanged_entities_keep_their_ids_and_report_nothing():
    result = run([1, 1, 2, 2], [5, 5, 9, 9], {1: 2, 2: 2}, 3)
    assert result.ids.tolist() == [1, 1, 2, 2]
    assert result.next_id == 3
    assert rows(result) == []
    assert list(result.changes.columns) == list(CHANGE_COLUMNS)


def test_new_records_joining_an_entity_keep_its_id_and_it_grew():
    result = run([1, 1, 2, 2, -1], [0, 0, 1, 1, 0], {1: 2, 2: 2}, 3)
    assert result.ids.tolist() == [1, 1, 2, 2, 1]
    assert result.next_id == 3
    assert rows(result) == [(1, "GREW", "", 2, 3)]  # entity 2 did not change: no row


def test_a_cluster_of_new_records_gets_the_next_id():
    result = run([-1, -1, -1], [4, 4, 2], {}, 10)
    assert result.ids.tolist() == [10, 10, 11]  # in the order of the clusters' first records, not of the labels
    assert result.next_id == 12
    assert rows(result) == [(10, "NEW", "", 0, 2), (11, "NEW", "", 0, 1)]


def test_merge_keeps_the_id_of_the_larger_entity():
    result = run([2, 2, 1, 1, 1], [0, 0, 0, 0, 0], {1: 3, 2: 2}, 3)
    assert result.ids.tolist() == [1] * 5
    assert result.next_id == 3
    assert rows(result) == [(1, "MERGED", "2", 3, 5), (2, "MERGED", "1", 2, 0)]


def test_merge_tie_keeps_the_smaller_id_wherever_its_records_are():
    result = run([9, 9, 4, 4, 6, 6], [0, 0, 0, 0, 0, 0], {4: 2, 6: 2, 9: 2}, 10)
    assert set(result.ids.tolist()) == {4}
    assert rows(result) == [(4, "MERGED", "6;9", 2, 6), (6, "MERGED", "4", 2, 0), (9, "MERGED", "4", 2, 0)]


def test_merge_compares_sizes_before_the_run_not_remaining_records():
    # entity 1 had 5 records, 4 were erased; entity 2 keeps all 3 of its records, but was the smaller one
    result = run([2, 2, 2, 1], [0, 0, 0, 0], {1: 5, 2: 3}, 3)
    assert result.ids.tolist() == [1, 1, 1, 1]
    assert rows(result) == [(1, "MERGED", "2", 5, 4), (2, "MERGED", "1", 3, 0)]


def test_split_majority_keeps_the_id_and_the_rest_gets_new_ids():
    result = run([7, 7, 7, 7, 7], [3, 0, 3, 0, 3], {7: 5}, 8)
    assert result.ids.tolist() == [7, 8, 7, 8, 7]
    assert result.next_id == 9
    assert rows(result) == [(7, "SPLIT", "8", 5, 3), (8, "NEW", "7", 0, 2)]


def test_erased_records_shrink_an_entity_and_erasing_all_removes_it():
    result = run([3, 3], [0, 0], {3: 4, 5: 2}, 6)
    assert result.ids.tolist() == [3, 3]
    assert result.next_id == 6
    assert rows(result) == [(3, "SHRANK", "", 4, 2), (5, "REMOVED", "", 2, 0)]


@pytest.mark.parametrize(
    ("old_ids", "expected"),
    [
        ([3, 3, -1], (3, "SHRANK", "", 4, 3)),
        ([3, 3, -1, -1], (3, "GREW", "", 4, 4)),
        ([3, 3, -1, -1, -1], (3, "GREW", "", 4, 5)),
    ],
)
def test_lost_and_gained_records_report_the_net_change(old_ids, expected):
    result = run(old_ids, [0] * len(old_ids), {3: 4}, 4)
    assert result.ids.tolist() == [3] * len(old_ids)
    assert rows(result) == [expected]


def test_three_way_split_combined_with_a_merge():
    # entity 10 (6 records): 3 stay with entity 30, 2 join entity 20, 1 forms a new cluster with a new record
    old_ids = [10, 10, 10, 30, 30, 10, 10, 20, 20, 20, 20, 10, -1]
    labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2]
    result = run(old_ids, labels, {10: 6, 20: 4, 30: 2}, 31)
    assert result.ids.tolist() == [10] * 5 + [20] * 6 + [31] * 2
    assert result.next_id == 32
    assert rows(result) == [
        (10, "MERGED", "30", 6, 5),  # a merge survivor reports MERGED even though it also split
        (20, "GREW", "", 4, 6),  # records of a split-off part joined it; 10 is not a claimant there
        (30, "MERGED", "10", 2, 0),
        (31, "NEW", "10", 0, 2),
    ]


def test_three_way_split_lists_kept_and_new_ids():
    old_ids = [10, 10, 10, 10, 20, 10, 10, 10, 10, 10]
    labels = [0, 0, 0, 0, 1, 1, 1, 2, 2, 0]
    result = run(old_ids, labels, {10: 9, 20: 1, 99: 3}, 100)
    assert result.ids.tolist() == [10, 10, 10, 10, 20, 20, 20, 100, 100, 10]
    assert rows(result) == [
        (10, "SPLIT", "20;100", 9, 5),
        (20, "GREW", "", 1, 3),
        (99, "REMOVED", "", 3, 0),
        (100, "NEW", "10", 0, 2),
    ]


def test_entity_spread_over_clusters_headed_by_others_is_absorbed_by_its_heir():
    # entity 5 has one record in each of two clusters: the larger one (entity 2's) is its heir
    result = run([1, 1, 5, 5, 2, 2, 2], [0, 0, 0, 1, 1, 1, 1], {1: 2, 2: 3, 5: 2}, 6)
    assert result.ids.tolist() == [1, 1, 1, 2, 2, 2, 2]
    assert rows(result) == [(1, "GREW", "", 2, 3), (2, "MERGED", "5", 3, 4), (5, "MERGED", "2", 2, 0)]


def test_heir_tie_between_equal_clusters_goes_to_the_one_seen_first():
    result = run([5, 5, -1, -1], [8, 3, 3, 8], {5: 2}, 6)
    assert result.ids.tolist() == [5, 6, 6, 5]
    assert rows(result) == [(5, "SPLIT", "6", 2, 2), (6, "NEW", "5", 0, 2)]


def test_new_part_of_several_entities_lists_them_all():
    result = run([1, 1, 1, 2, 2, 2, 1, 2, -1], [0, 0, 0, 1, 1, 1, 2, 2, 2], {1: 4, 2: 4}, 3)
    assert result.ids.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert rows(result) == [(1, "SPLIT", "3", 4, 3), (2, "SPLIT", "3", 4, 3), (3, "NEW", "1;2", 0, 3)]


def test_changes_have_the_documented_types_even_when_empty():
    for result in (run([], [], {}, 0), run([1, -1], [0, 1], {1: 1, 4: 2}, 5)):
        changes = result.changes
        assert list(changes.columns) == list(CHANGE_COLUMNS)
        for column in ("match_id", "records_before", "records_after"):
            assert changes[column].dtype == np.int64
        assert pd.api.types.is_string_dtype(changes["change"]) and pd.api.types.is_string_dtype(changes["related_ids"])
        assert result.ids.dtype == np.int64


# --- determinism --------------------------------------------------------------------------------------------------

OLD = [10, 10, 10, 30, 30, 10, 10, 20, 20, 20, 20, 10, -1, -1, -1]
LABELS = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 7, 7]
BEFORE = {10: 6, 20: 4, 30: 2}


def test_same_inputs_give_the_same_outputs():
    first, second = run(OLD, LABELS, BEFORE, 31), run(OLD, LABELS, BEFORE, 31)
    np.testing.assert_array_equal(first.ids, second.ids)
    assert first.next_id == second.next_id
    pd.testing.assert_frame_equal(first.changes, second.changes)


def test_permuting_the_records_keeps_every_records_id():
    """Kept ids follow the records exactly; new ids are numbered by first record, so only their set is fixed."""
    expected = run(OLD, LABELS, BEFORE, 31)
    rng = np.random.default_rng(7)
    for _ in range(20):
        order = rng.permutation(len(OLD))
        result = reconcile(np.array(OLD)[order], np.array(LABELS)[order], BEFORE, 31)
        ids = np.empty_like(result.ids)
        ids[order] = result.ids  # back to the original record order
        kept = expected.ids < 31
        np.testing.assert_array_equal(ids[kept], expected.ids[kept])
        assert sorted(set(ids[~kept].tolist())) == [31, 32]
        assert partition(ids) == partition(expected.ids)
        assert result.next_id == expected.next_id
        assert rows(result)[:3] == rows(expected)[:3]  # the old entities' rows; NEW rows may swap ids


def test_inputs_are_not_modified():
    old_ids, labels = np.array(OLD), np.array(LABELS)
    reconcile(old_ids, labels, BEFORE, 31)
    assert old_ids.tolist() == OLD and labels.tolist() == LABELS


# --- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old_ids", "labels", "before", "next_id", "message"),
    [
        ([1, 1], [0], {1: 2}, 2, "differ in length"),
        ([1, 2], [0, 0], {1: 2}, 3, r"missing from before, e\.g\. \[2\]"),
        ([1, 1, 1], [0, 0, 0], {1: 2}, 2, r"before\[1\] = 2 is below its 3 record"),
        ([1], [0], {1: 1, 5: 1}, 5, "next_id 5 is not above every id in before"),
        ([-2], [0], {}, 0, "found -2"),
        ([1], [-1], {1: 1}, 2, "non-negative cluster labels"),
        ([1.5], [0], {1: 1}, 2, "must hold integers"),
        ([1], [0], {-3: 1, 1: 1}, 2, "found id -3"),
        ([1], [0], {1: 1, 4: -2}, 5, r"record counts \(>= 0\), found -2"),
        ([], [], {}, -1, "next_id must be non-negative"),
    ],
)
def test_invalid_inputs_raise_value_error(old_ids, labels, before, next_id, message):
    with pytest.raises(ValueError, match=message):
        reconcile(np.array(old_ids), np.array(labels), before, next_id)


def test_two_dimensional_input_is_rejected():
    with pytest.raises(ValueError, match="one-dimensional"):
        reconcile(np.zeros((2, 2), dtype=np.int64), np.zeros(4, dtype=np.int64), {}, 0)


# --- random cases: invariants and a reference implementation ----------------------------------------------------


def partition(ids: np.ndarray) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for position, value in enumerate(ids.tolist()):
        groups.setdefault(value, []).append(position)
    return sorted(groups.values())


def reference(
    old_ids: list[int], labels: list[int], before: dict[int, int], next_id: int
) -> tuple[list[int], list[Row]]:
    """The documented rules, written out record by record with dicts."""
    members: dict[int, list[int]] = {}
    for position, label in enumerate(labels):
        members.setdefault(label, []).append(position)
    size = {label: len(positions) for label, positions in members.items()}
    first = {label: positions[0] for label, positions in members.items()}
    spread: dict[int, Counter[int]] = {}
    for old, label in zip(old_ids, labels, strict=True):
        if old >= 0:
            spread.setdefault(old, Counter())[label] += 1
    heir = {e: min(c, key=lambda label, c=c: (-c[label], -size[label], first[label])) for e, c in spread.items()}
    claimants: dict[int, list[int]] = {}
    for e, label in heir.items():
        claimants.setdefault(label, []).append(e)
    name = {label: min(es, key=lambda e: (-before[e], e)) for label, es in claimants.items()}
    for offset, label in enumerate(sorted((label for label in members if label not in name), key=first.__getitem__)):
        name[label] = next_id + offset

    def joined(values) -> str:
        return ";".join(str(v) for v in sorted(set(values)))

    table: list[Row] = []
    for e, counts in spread.items():
        label = heir[e]
        if name[label] != e:
            table.append((e, "MERGED", str(name[label]), before[e], 0))
        elif len(claimants[label]) > 1:
            table.append((e, "MERGED", joined(x for x in claimants[label] if x != e), before[e], size[label]))
        elif len(counts) > 1:
            table.append((e, "SPLIT", joined(name[x] for x in counts if x != label), before[e], size[label]))
        elif size[label] != counts[label] or before[e] != counts[label]:
            table.append((e, "GREW" if size[label] >= before[e] else "SHRANK", "", before[e], size[label]))
    table += [(e, "REMOVED", "", count, 0) for e, count in before.items() if e not in spread]
    for label in members:
        if name[label] >= next_id:
            origins = (old_ids[p] for p in members[label] if old_ids[p] >= 0)
            table.append((name[label], "NEW", joined(origins), 0, size[label]))
    return [name[label] for label in labels], sorted(table)


def random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[int, int], int]:
    n = int(rng.integers(0, 30))
    pool = rng.choice(60, size=int(rng.integers(1, 9)), replace=False)  # sparse ids: index and id must not mix
    old_ids = rng.choice(np.append(pool, -1), size=n)
    if rng.random() < 0.5:
        # mostly the old clustering with a few records moved: unchanged entities and small edits
        labels = np.where(old_ids >= 0, old_ids * 3 + 1, rng.integers(0, 200, size=n))
        moved = rng.random(n) < 0.2
        labels[moved] = rng.choice(np.append(labels, 500), size=int(moved.sum()))
    else:
        labels = rng.integers(0, int(rng.integers(1, 8)), size=n) * 7 + 2
    counts = Counter(old_ids[old_ids >= 0].tolist())
    before = {e: c + int(rng.integers(0, 3)) * int(rng.random() < 0.3) for e, c in counts.items()}
    before |= {int(e): int(rng.integers(1, 4)) for e in pool if e not in counts and rng.random() < 0.5}
    next_id = max(before, default=-1) + 1 + int(rng.integers(0, 3))
    return old_ids, labels, before, next_id


def check_invariants(old_ids: np.ndarray, labels: np.ndarray, before: dict[int, int], next_id: int, result: Reconciled):
    ids, changes = result.ids, result.changes.set_index("match_id")
    assert len(ids) == len(old_ids) and ids.dtype == np.int64
    assert changes.index.is_unique and changes.index.is_monotonic_increasing
    # one id per cluster and one cluster per id
    assert partition(ids) == partition(labels)
    # new ids: exactly the range handed out, above every old id, one NEW row each
    new = sorted({int(i) for i in ids if i not in before})
    assert new == list(range(next_id, result.next_id))
    assert not set(new) & set(before)
    assert set(changes.index[changes["change"] == "NEW"]) == set(new)
    for e in before:
        if e not in set(old_ids.tolist()):
            assert changes.loc[e, "change"] == "REMOVED"
        elif e not in set(ids.tolist()):
            # an id that did not survive was absorbed by a surviving id, whose cluster holds most of its records
            survivor = int(changes.loc[e, "related_ids"])
            assert changes.loc[e, "change"] == "MERGED" and changes.loc[e, "records_after"] == 0
            assert survivor in set(ids.tolist()) and changes.loc[survivor, "change"] == "MERGED"
            assert str(e) in changes.loc[survivor, "related_ids"].split(";")
        else:
            # a surviving id sits on a cluster holding most of its records (rule 1)
            where = Counter(ids[old_ids == e].tolist())
            assert where[e] == max(where.values())
            if e not in changes.index:  # no row: exactly the same records as before
                assert np.array_equal(ids == e, old_ids == e) and before[e] == where[e]
    # records_after is the size of the cluster carrying the id, and rows cover every changed cluster's records
    sizes = Counter(ids.tolist())
    for match_id, after in changes["records_after"].items():
        assert after == sizes.get(match_id, 0)
    assert changes["records_after"].sum() == sum(sizes[i] for i in sizes if i in changes.index)
    assert (changes.loc[changes["change"] == "NEW", "records_before"] == 0).all()
    olds = changes[changes["change"] != "NEW"]
    assert [before[e] for e in olds.index] == olds["records_before"].tolist()


def test_random_cases_follow_the_rules():
    for seed in range(RANDOM_CASES):
        old_ids, labels, before, next_id = random_case(np.random.default_rng(seed))
        case = f"seed {seed}: old_ids={old_ids.tolist()} labels={labels.tolist()} before={before} next_id={next_id}"
        result = reconcile(old_ids, labels, before, next_id)
        try:
            check_invariants(old_ids, labels, before, next_id, result)
        except AssertionError as error:
            raise AssertionError(case) from error
        expected_ids, expected_rows = reference(old_ids.tolist(), labels.tolist(), before, next_id)
        assert result.ids.tolist() == expected_ids, case
        assert rows(result) == expected_rows, case
