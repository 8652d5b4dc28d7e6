"""Candidate generation: exact block pairs, key conjunctions, and the automatic Blocker on real-ish data."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from conftest import load_fixture, true_pairs

from matcher.blocking import (
    Blocker,
    BlockingBudget,
    block_pairs,
    combine,
    decode,
    encode,
    rule_cost,
    tfidf_neighbours,
    window_pairs,
)
from matcher.prepare import prepare
from matcher.profile import infer_settings


def brute_force_pairs(codes: np.ndarray, max_block: int) -> set[tuple[int, int]]:
    blocks: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(codes):
        if c >= 0:
            blocks[int(c)].append(i)
    out = set()
    for members in blocks.values():
        if 2 <= len(members) <= max_block:
            out.update(itertools.combinations(sorted(members), 2))
    return out


def as_set(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return {(min(int(a), int(b)), max(int(a), int(b))) for a, b in zip(left, right, strict=True)}


@pytest.mark.parametrize("seed", range(12))
def test_block_pairs_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    codes = rng.integers(-1, int(rng.integers(1, 40)), n)  # -1 is missing: never paired
    max_block = int(rng.integers(2, 9))

    left, right = block_pairs(codes, max_block)

    pairs = as_set(left, right)
    assert len(pairs) == len(left), "no pair is produced twice"
    assert not np.any(left == right)
    assert pairs == brute_force_pairs(codes, max_block)
    assert rule_cost(codes, max_block)[0] == len(left)


def test_block_pairs_edge_cases() -> None:
    assert len(block_pairs(np.zeros(0, dtype=np.int64), 5)[0]) == 0
    assert len(block_pairs(np.full(6, -1), 5)[0]) == 0
    left, right = block_pairs(np.array([3, 3]), 2)
    assert as_set(left, right) == {(0, 1)}
    # a block of exactly max_block is kept, one more record drops the whole block
    assert len(block_pairs(np.array([1, 1, 1, 1]), 4)[0]) == 6
    assert len(block_pairs(np.array([1, 1, 1, 1, 1]), 4)[0]) == 0
    assert rule_cost(np.array([1, 1, 1, 1, 1, 2, 2, -1]), 4) == (1, 2, 1)


@pytest.mark.parametrize("seed", range(8))
def test_window_pairs_chain_the_records_of_a_too_large_block_that_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, max_block, window = 300, 10, int(rng.integers(1, 5))
    codes = rng.integers(-1, 6, n)  # few codes: most blocks are too large
    other = rng.integers(-1, 12, n)  # -1: missing, never vouches for a pair

    left, right = window_pairs(codes, max_block, [other], window)

    pairs = as_set(left, right)
    assert len(pairs) == len(left) and not np.any(left == right)
    assert np.all(codes[left] == codes[right]), "pairs stay inside a block"
    assert np.all((other[left] == other[right]) & (other[left] >= 0)), "and agree on a sort column"
    sizes = np.bincount(codes[codes >= 0])
    for code, size in enumerate(sizes):
        inside = [(a, b) for a, b in pairs if codes[a] == code]
        if size <= max_block:
            assert not inside, "blocks small enough to pair in full are left to block_pairs"
            continue
        assert len(inside) <= sum(size - k for k in range(1, window + 1)), "linear in the block's size"
        for value in set(other[(codes == code) & (other >= 0)].tolist()):
            members = set(np.flatnonzero((codes == code) & (other == value)).tolist())
            runs = connected(members, [(a, b) for a, b in inside if a in members])
            assert len(runs) == 1, "records agreeing on the sort column form one chain"
    assert rule_cost(codes, max_block, window)[0] >= len(left) + len(block_pairs(codes, max_block)[0])


def connected(members: set[int], pairs: list[tuple[int, int]]) -> list[set[int]]:
    parent = {m: m for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    groups: dict[int, set[int]] = defaultdict(set)
    for m in members:
        groups[find(m)].add(m)
    return list(groups.values())


def test_window_pairs_put_records_agreeing_on_the_sort_keys_side_by_side() -> None:
    # one block of 40: 20 records of one entity (same phone) among 20 strangers; window 1 chains the 20
    codes = np.zeros(40, dtype=np.int64)
    phone = np.r_[np.full(20, 7), np.arange(100, 120)]
    shuffled = np.random.default_rng(0).permutation(40)
    left, right = window_pairs(codes, 10, [phone[shuffled]], 1)
    entity = set(np.flatnonzero(phone[shuffled] == 7).tolist())
    assert len(left) == 19, "the strangers share nothing but the block: not paired"
    assert as_set(left, right) <= {(a, b) for a in entity for b in entity}
    assert len(connected(entity, list(as_set(left, right)))) == 1


def test_window_pairs_need_two_agreements_when_two_columns_vouch() -> None:
    codes = np.zeros(30, dtype=np.int64)
    dob = np.r_[np.full(10, 1), np.full(20, 2)]  # 10 strangers born the same day ...
    phone = np.r_[np.arange(10), np.full(20, 9)]  # ... and 20 records of one entity: same day, same phone
    left, right = window_pairs(codes, 5, [phone, dob], 2)
    assert as_set(left, right) <= {(a, b) for a in range(10, 30) for b in range(10, 30)}
    assert len(connected(set(range(10, 30)), list(as_set(left, right)))) == 1


def test_combine_is_the_conjunction_of_two_keys() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(-1, 5, 400), rng.integers(-1, 7, 400)

    c = combine(a, b)

    assert np.array_equal(c < 0, (a < 0) | (b < 0))
    valid = np.flatnonzero(c >= 0)
    i, j = np.triu_indices(len(valid), 1)
    same_pair = (a[valid][i] == a[valid][j]) & (b[valid][i] == b[valid][j])
    assert np.array_equal(c[valid][i] == c[valid][j], same_pair)
    assert set(np.unique(c[valid])) == set(range(len(np.unique(c[valid]))))  # dense codes


def test_encode_decode_round_trip_and_order() -> None:
    left, right = np.array([5, 1, 2, 3]), np.array([2, 4, 2, 9])
    ids = encode(left, right, 10)
    assert list(ids) == [25, 14, 39]  # self pair dropped, (lo, hi) ordering
    lo, hi = decode(ids, 10)
    assert list(lo) == [2, 1, 3] and list(hi) == [5, 4, 9]


def test_budget_grows_with_the_tradeoff() -> None:
    budgets = [BlockingBudget.from_tradeoff(a, 100_000) for a in (0.0, 0.5, 1.0)]
    for low, high in itertools.pairwise(budgets):
        assert high.max_block_size > low.max_block_size
        assert high.total_pairs > low.total_pairs
        assert high.neighbours > low.neighbours
    assert budgets[0].max_block_size == 20 and budgets[2].max_block_size == 100


def test_tfidf_neighbours_find_near_duplicate_text() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["oak table four legs", "oak tabel four legs", "red glass lamp", "red glas lamp",
             "blue sofa soft", "antique chair"]
    matrix = TfidfVectorizer().fit_transform(texts).tocsr()
    ids = tfidf_neighbours(matrix, k=1, source=None, max_df=10, max_df_share=1.0)
    assert {(0, 1), (2, 3)} <= as_set(*decode(ids, len(texts)))
    cross = tfidf_neighbours(matrix, k=1, source=np.array([0, 0, 0, 1, 1, 1]), max_df=10, max_df_share=1.0)
    assert as_set(*decode(cross, len(texts))) == {(2, 3)}


# --- the Blocker on the fixtures -------------------------------------------------------------


@pytest.fixture(scope="module")
def people():
    records, truth, _ = load_fixture("people")
    table = prepare(records, infer_settings(records, "id"))
    return table, true_pairs(records, truth)


@pytest.fixture(scope="module")
def linkage():
    records, truth, source = load_fixture("linkage")
    table = prepare(records, infer_settings(records, "id", source))
    return table, true_pairs(records, truth, source), records[source].to_numpy()


def test_blocker_recall_and_reduction_on_people(people) -> None:
    table, truth_ids = people
    blocker = Blocker(0.5).fit(table)
    all_pairs = table.n * (table.n - 1) // 2

    recall = np.isin(truth_ids, blocker.pair_ids_).mean()

    assert recall >= 0.98  # measured 1.0
    assert blocker.n_pairs_ < 0.10 * all_pairs  # measured 8,086 of 179,700 (4.5%)
    assert np.array_equal(blocker.pair_ids_, np.unique(blocker.pair_ids_))
    left, right = decode(blocker.pair_ids_, table.n)
    assert np.all(left < right)
    assert any(r.used for r in blocker.rules_)


def test_blocker_never_pairs_within_one_source(linkage) -> None:
    table, truth_ids, source = linkage
    blocker = Blocker(1.0).fit(table)
    left, right = decode(blocker.pair_ids_, table.n)

    assert blocker.n_pairs_ > 0
    assert np.all(source[left] != source[right])
    assert np.isin(truth_ids, blocker.pair_ids_).mean() >= 0.98  # measured 1.0


@pytest.mark.parametrize("fixture", ["people", "linkage"])
def test_wider_search_gives_at_least_as_many_pairs(fixture: str, request) -> None:
    table = request.getfixturevalue(fixture)[0]
    counts = [Blocker(a).fit(table).n_pairs_ for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert counts == sorted(counts), counts
    assert counts[-1] > counts[0]


def test_blocker_is_deterministic(people) -> None:
    table, _ = people
    assert np.array_equal(Blocker(0.3).fit(table).pair_ids_, Blocker(0.3).fit(table).pair_ids_)


def test_blocks_larger_than_the_budget_are_dropped_but_conjunctions_recover_them() -> None:
    # 200 records share one surname (block far above max_block_size); dob tells them apart.
    n = 200
    from matcher.settings import ColumnSettings, Settings

    df = pd.DataFrame({
        "id": [str(i) for i in range(n)],
        "surname": ["smith"] * n,
        "dob": [(pd.Timestamp("1950-01-01") + pd.Timedelta(days=37 * (i // 2))).strftime("%Y-%m-%d")
                for i in range(n)],  # pairs (2k, 2k+1) share a dob
    })
    settings = Settings(primary_key="id", columns=[ColumnSettings("surname", "categorical"),
                                                    ColumnSettings("dob", "date")])
    blocker = Blocker(0.0).fit(prepare(df, settings))
    pairs = as_set(*decode(blocker.pair_ids_, n))

    assert {(2 * k, 2 * k + 1) for k in range(n // 2)} <= pairs
    assert len(pairs) < n * (n - 1) // 2 // 10
    surname_rule = next(r for r in blocker.rules_ if r.keys == ("surname",))
    # the surname block is too large to pair in full: only sorted neighbours, a few per record
    assert surname_rule.dropped_blocks == 1
    assert surname_rule.pairs <= n * blocker.budget_.window


def test_rules_past_the_budget_add_only_pairs_agreeing_on_two_more_columns(monkeypatch) -> None:
    # 30 clean pairs (every column equal), 10 stray pairs (names garbled, birth date, city and zip equal) and 10
    # namesake-like pairs (birth date and city equal, nothing else). The budget holds the first- and last-name
    # rules only, which charge 60 pairs for 30 distinct ones; past it, the zip rule brings the strays (they also
    # share a birth date and a city) and no rule brings the namesakes (one more column only).
    from matcher.settings import ColumnSettings, Settings

    rows = []
    for k in range(30):
        rows += [(f"f{k}", f"l{k}", f"d{k}", f"c{k}", f"z{k}")] * 2
    for k in range(10):
        rows += [(f"fa{k}", f"la{k}", f"sd{k}", f"sc{k}", f"sz{k}"), (f"fb{k}", f"lb{k}", f"sd{k}", f"sc{k}", f"sz{k}")]
    for k in range(10):
        rows += [(f"na{k}", f"ma{k}", f"nd{k}", f"nc{k}", f"za{k}"), (f"nb{k}", f"mb{k}", f"nd{k}", f"nc{k}", f"zb{k}")]
    names = ["first", "last", "dob", "city", "zip"]
    df = pd.DataFrame(rows, columns=names)
    df.insert(0, "id", [str(i) for i in range(len(df))])
    settings = Settings(primary_key="id", columns=[ColumnSettings(c, "categorical") for c in names])
    table = prepare(df, settings)
    budget = BlockingBudget(max_block_size=2, rule_pairs=1000, total_pairs=60, neighbours=0, window=0)
    monkeypatch.setattr(BlockingBudget, "from_tradeoff", classmethod(lambda cls, a, n: budget))

    blocker = Blocker(0.5).fit(table)
    pairs = as_set(*decode(blocker.pair_ids_, table.n))

    strays = {(60 + 2 * k, 61 + 2 * k) for k in range(10)}
    namesakes = {(80 + 2 * k, 81 + 2 * k) for k in range(10)}
    assert {(2 * k, 2 * k + 1) for k in range(30)} | strays == pairs
    assert not namesakes & pairs
    used = {r.keys: r for r in blocker.rules_ if r.used}
    assert not used[("first",)].supported and used[("zip",)].supported
    # a saved model's rules rebuild the same candidates
    again = Blocker.from_rules(0.5, blocker.rules_, table)
    assert np.array_equal(again.pair_ids_, blocker.pair_ids_)
