"""Constrained average-linkage clustering and one-to-one linking of scored pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from matcher.cluster import Constraints, cluster, components, linkage_pieces, missing_component_pairs, one_to_one

A, B, C, D, E = range(5)
SEEDS = 800  # random graphs compared with the textbook algorithm (~0.7 s)


def arr(*values) -> np.ndarray:
    return np.array(values)


def partition(labels: np.ndarray) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return sorted(groups.values())


def pairs_constraint(*pairs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return arr(*[a for a, _ in pairs]), arr(*[b for _, b in pairs])


def reference_average_linkage(n, left, right, prob, threshold, must=((), ()), cannot=((), ()), max_size=100):
    """Textbook agglomeration: repeatedly merge the allowed pair of clusters with the highest average
    pair probability (unscored pairs count 0) while that average reaches the threshold."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in zip(*must, strict=True):
        parent[find(int(a))] = find(int(b))
    grouped: dict[int, set[int]] = {}
    for i in range(n):
        grouped.setdefault(find(i), set()).add(i)
    clusters = list(grouped.values())
    weight = {(min(a, b), max(a, b)): float(p) for a, b, p in zip(left, right, prob, strict=True)}
    forbidden = {(min(a, b), max(a, b)) for a, b in zip(*cannot, strict=True)}
    while True:
        best = None
        for i, j in itertools.combinations(range(len(clusters)), 2):
            x, y = clusters[i], clusters[j]
            if len(x) + len(y) > max_size or any((min(a, b), max(a, b)) in forbidden for a in x for b in y):
                continue
            avg = sum(weight.get((min(a, b), max(a, b)), 0.0) for a in x for b in y) / (len(x) * len(y))
            if avg >= threshold and (best is None or avg > best[0]):
                best = (avg, i, j)
        if best is None:
            return sorted(sorted(c) for c in clusters)
        _, i, j = best
        clusters[i] |= clusters.pop(j)


# --- average linkage ---------------------------------------------------------------------------


def test_chain_is_split_by_average_linkage_but_joined_by_connected_components() -> None:
    left, right, prob = arr(A, B, A), arr(B, C, C), arr(0.95, 0.7, 0.1)

    labels = cluster(3, left, right, prob, threshold=0.5)

    assert partition(labels) == [[A, B], [C]]  # avg(AB, C) = (0.7 + 0.1) / 2 = 0.4 < 0.5
    strong = prob >= 0.5
    assert partition(components(3, left[strong], right[strong])) == [[A, B, C]]


def test_chain_is_joined_when_the_average_is_high_enough() -> None:
    labels = cluster(3, arr(A, B, A), arr(B, C, C), arr(0.95, 0.7, 0.4), threshold=0.5)
    assert partition(labels) == [[A, B, C]]  # (0.7 + 0.4) / 2 = 0.55


def test_unscored_pairs_count_as_zero() -> None:
    labels = cluster(3, arr(A, B), arr(B, C), arr(0.9, 0.8), threshold=0.5)
    assert partition(labels) == [[A, B], [C]]  # (0.8 + 0) / 2


def test_clean_pairs_and_cliques_are_kept_whole_and_singletons_stay_alone() -> None:
    left, right, prob = arr(A, C, C, D), arr(B, D, E, E), arr(0.9, 0.8, 0.7, 0.6)
    assert partition(cluster(6, left, right, prob, 0.5)) == [[A, B], [C, D, E], [5]]
    assert partition(cluster(4, arr(A), arr(B), arr(0.49), 0.5)) == [[A], [B], [C], [D]]


def test_must_link_forces_a_merge() -> None:
    left, right, prob = arr(A, B, A), arr(B, C, C), arr(0.9, 0.05, 0.3)
    assert partition(cluster(3, left, right, prob, 0.5)) == [[A, B], [C]]

    must = Constraints(must=pairs_constraint((B, C)))
    labels = cluster(3, left, right, prob, 0.5, must)
    assert partition(labels) == [[A, B, C]]  # B+C first, then A joins at (0.9 + 0.3) / 2 = 0.6

    weak = Constraints(must=pairs_constraint((B, C)))
    labels = cluster(3, left, right, arr(0.9, 0.05, 0.0), 0.5, weak)
    assert partition(labels) == [[A], [B, C]]  # the must-link holds; A stays out at 0.45


def test_must_link_between_unscored_records() -> None:
    must = Constraints(must=pairs_constraint((A, D)))
    labels = cluster(5, arr(B), arr(C), arr(0.9), 0.5, must)
    assert partition(labels) == [[A, D], [B, C], [E]]


def test_cannot_link_prevents_a_merge() -> None:
    left, right, prob = arr(A, B, A), arr(B, C, C), arr(0.99, 0.9, 0.9)
    assert partition(cluster(3, left, right, prob, 0.5)) == [[A, B, C]]

    cannot = Constraints(cannot=pairs_constraint((A, C)))
    labels = cluster(3, left, right, prob, 0.5, cannot)
    assert partition(labels) == [[A, B], [C]]
    assert labels[A] != labels[C]

    pair = Constraints(cannot=pairs_constraint((A, B)))
    assert partition(cluster(2, arr(A), arr(B), arr(0.99), 0.5, pair)) == [[A], [B]]


def test_cannot_link_is_honoured_transitively_after_merges() -> None:
    # D-E is the strongest pair, then C joins D-E; A-B-C chain would pull A in but A cannot meet E.
    left, right, prob = arr(D, C, C, B, A, A, B), arr(E, D, E, C, B, C, D), arr(.99, .95, .95, .9, .9, .9, .9)
    cannot = Constraints(cannot=pairs_constraint((A, E)))
    labels = cluster(5, left, right, prob, 0.5, cannot)
    assert labels[A] != labels[E]
    assert partition(labels) == reference_average_linkage(5, left, right, prob, 0.5, cannot=cannot.cannot)


@pytest.mark.parametrize("max_size", [2, 3, 4])
def test_max_cluster_size_is_respected(max_size: int) -> None:
    n = 9
    i, j = np.triu_indices(n, 1)
    prob = np.random.default_rng(0).uniform(0.8, 1.0, len(i))

    labels = cluster(n, i, j, prob, 0.5, max_size=max_size)

    sizes = np.bincount(np.unique(labels, return_inverse=True)[1])
    assert 2 <= sizes.max() <= max_size  # all 36 pairs score >= 0.8: unbounded, it would be one cluster
    assert sizes.sum() == n
    assert partition(labels) == reference_average_linkage(n, i, j, prob, 0.5, max_size=max_size)


def test_clustering_is_deterministic_and_independent_of_edge_order() -> None:
    rng = np.random.default_rng(5)
    n = 60
    i, j = np.triu_indices(n, 1)
    keep = rng.random(len(i)) < 0.08
    left, right, prob = i[keep], j[keep], rng.uniform(0, 1, int(keep.sum()))
    cons = Constraints(must=pairs_constraint((0, 1), (5, 9)), cannot=pairs_constraint((2, 3), (10, 11)))

    first = cluster(n, left, right, prob, 0.4, cons, max_size=6)
    second = cluster(n, left, right, prob, 0.4, cons, max_size=6)
    order = rng.permutation(len(left))
    shuffled = cluster(n, right[order], left[order], prob[order], 0.4, cons, max_size=6)

    assert np.array_equal(first, second)
    assert partition(first) == partition(shuffled)
    assert len(partition(first)) < n  # something was clustered


def test_must_link_on_a_scored_pair_does_not_fill_in_unscored_pairs() -> None:
    """Pinning a pair the model already links must not change the rest of the clustering.

    A-B 0.9 (also must-linked), B-C 0.9, A-C never scored: avg({A,B}, C) = 0.45 < 0.5, so C stays apart,
    exactly as without the must-link.
    """
    left, right, prob = arr(A, B), arr(B, C), arr(0.9, 0.9)
    assert partition(cluster(3, left, right, prob, 0.5)) == [[A, B], [C]]

    must = Constraints(must=pairs_constraint((A, B)))
    assert partition(cluster(3, left, right, prob, 0.5, must)) == [[A, B], [C]]


def test_cluster_agrees_with_textbook_average_linkage_on_random_graphs() -> None:
    mismatches = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 11))
        i, j = np.triu_indices(n, 1)
        keep = rng.random(len(i)) < rng.uniform(0.2, 0.9)
        flip = rng.random(int(keep.sum())) < 0.5
        left = np.where(flip, j[keep], i[keep])
        right = np.where(flip, i[keep], j[keep])
        prob = rng.uniform(0, 1, len(left))
        threshold = float(rng.uniform(0.3, 0.8))
        must_idx = rng.choice(len(i), size=min(int(rng.integers(0, 3)), len(i)), replace=False)
        if seed % 4 == 0:  # must-links on pairs that were also scored, as with --enforce-labels
            must_idx = rng.choice(np.flatnonzero(keep), size=min(2, int(keep.sum())), replace=False)
        cannot_idx = np.setdiff1d(rng.choice(len(i), size=min(2, len(i)), replace=False), must_idx)
        must, cannot = (i[must_idx], j[must_idx]), (i[cannot_idx], j[cannot_idx])
        if seed % 2:  # size cap only
            max_size = int(rng.integers(2, n + 2))
            got = cluster(n, left, right, prob, threshold, max_size=max_size)
            expected = reference_average_linkage(n, left, right, prob, threshold, max_size=max_size)
        else:
            got = cluster(n, left, right, prob, threshold, Constraints(must=must, cannot=cannot))
            expected = reference_average_linkage(n, left, right, prob, threshold, must, cannot)
        if partition(got) != expected:
            mismatches.append(seed)
    assert mismatches == []


def test_missing_component_pairs_lists_unscored_pairs_of_small_components() -> None:
    comp = arr(0, 0, 0, 1, 1, 2)
    n = len(comp)
    scored = arr(0 * n + 1, 3 * n + 4)
    left, right, drawn = missing_component_pairs(comp, scored)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 2), (1, 2)]
    assert not drawn.any()


def _completed(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray, truth: np.ndarray, threshold: float):
    """What ``Matcher.cluster_labels`` does: components on strong pairs, their unscored pairs completed
    (every pair of a small component, random partners in a large one) and scored by ``truth``."""
    strong = prob >= threshold
    comp = linkage_pieces(components(n, left[strong], right[strong]), left, right, prob, threshold)
    scored = np.unique(np.minimum(left, right) * n + np.maximum(left, right))
    ml, mr, drawn = missing_component_pairs(comp, scored, seed=0)
    mp = np.where(truth[ml] == truth[mr], 0.9, 0.05)
    return (np.r_[left, ml], np.r_[right, mr], np.r_[prob, mp],
            np.r_[np.zeros(len(left), dtype=bool), drawn])


def test_an_entity_of_300_records_comes_out_whole_from_a_sparse_chain_of_links() -> None:
    """Blocking proposes only a chain of links through a 300-record entity (its other 44,551 pairs are never
    candidates): the records drawn at random inside the component score as matches, so it stays whole; no
    cap on cluster size binds unless one is set."""
    n = 300
    truth = np.zeros(n, dtype=int)
    left = np.arange(n - 1)
    right = left + 1
    prob = np.full(n - 1, 0.95)
    el, er, ep, ed = _completed(n, left, right, prob, truth, 0.5)
    assert ed.sum() >= 10 * n  # ~20 random partners per record, not all 44,850 pairs
    labels = cluster(n, el, er, ep, 0.5, drawn=ed)
    assert len(np.unique(labels)) == 1
    capped = cluster(n, el, er, ep, 0.5, max_size=100, drawn=ed)
    assert np.bincount(np.unique(capped, return_inverse=True)[1]).max() <= 100


def test_two_large_entities_joined_by_one_strong_link_stay_apart() -> None:
    """Two entities of 150 records, each a chain, bridged by one strong false link: the random draws
    between them score low, so average linkage keeps them apart (connected components would not)."""
    n = 300
    truth = np.repeat([0, 1], 150)
    left = np.r_[np.arange(149), np.arange(150, 299), 10]
    right = np.r_[np.arange(1, 150), np.arange(151, 300), 200]
    prob = np.full(len(left), 0.95)
    el, er, ep, ed = _completed(n, left, right, prob, truth, 0.5)
    labels = cluster(n, el, er, ep, 0.5, drawn=ed)
    assert partition(labels) == [list(range(150)), list(range(150, 300))]


def test_an_entity_inside_a_giant_component_is_completed_within_its_piece(monkeypatch) -> None:
    """A 300-record entity (a chain of strong links) inside a giant component: 2,500 two-record entities hang
    on it by weak false links (0.6). The giant component is cut on stricter links before average linkage;
    the random partners that complete the entity must be drawn within that piece, not across the whole
    component (there ~20 draws per record found ~1 of its own entity, and the entity came out in pieces)."""
    import matcher.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "GIANT_COMPONENT", 500)
    big, pairs = 300, 2500
    n = big + 2 * pairs
    truth = np.r_[np.zeros(big, dtype=int), 1 + np.repeat(np.arange(pairs), 2)]
    firsts = big + 2 * np.arange(pairs)
    hooks = np.random.default_rng(1).integers(0, big, pairs)
    left = np.r_[np.arange(big - 1), firsts, hooks]
    right = np.r_[np.arange(1, big), firsts + 1, firsts]
    prob = np.r_[np.full(big - 1, 0.95), np.full(pairs, 0.95), np.full(pairs, 0.6)]
    el, er, ep, ed = _completed(n, left, right, prob, truth, 0.5)
    labels = cluster_module.cluster(n, el, er, ep, 0.5, drawn=ed)
    assert len(np.unique(labels[:big])) == 1
    assert partition(labels)[1:] == [[int(a), int(a) + 1] for a in firsts]


def test_a_few_random_draws_vouch_for_little() -> None:
    """Two clusters with one random draw between them at 0.9: the 99 unscored pairs do not count at 0.9
    (Wilson's lower bound of one draw is ~0.2), so a single strong candidate pair cannot join them."""
    n = 20
    a, b = np.arange(10), np.arange(10, 20)
    inside = [(x, y) for g in (a, b) for x, y in itertools.combinations(g, 2)]
    left = np.array([x for x, _ in inside] + [0, 1])
    right = np.array([y for _, y in inside] + [10, 11])
    prob = np.r_[np.full(len(inside), 0.95), 0.95, 0.9]
    drawn = np.r_[np.zeros(len(inside) + 1, dtype=bool), True]
    labels = cluster(n, left, right, prob, 0.5, drawn=drawn)
    assert partition(labels) == [list(range(10)), list(range(10, 20))]


# --- one-to-one --------------------------------------------------------------------------------


def test_one_to_one_keeps_the_best_link_per_record() -> None:
    left, right, prob = arr(A, A, D, D), arr(B, C, C, E), arr(0.9, 0.8, 0.7, 0.95)

    labels = one_to_one(5, left, right, prob, 0.5)

    assert partition(labels) == [[A, B], [C], [D, E]]  # D-E beats D-C, A-B beats A-C


def test_one_to_one_on_random_scores_links_each_record_at_most_once() -> None:
    rng = np.random.default_rng(2)
    n = 80
    ids = np.unique(rng.integers(0, 40, 600) * n + rng.integers(40, n, 600))  # two "sources", no repeats
    left, right = ids // n, ids % n
    prob = rng.uniform(0, 1, len(ids))

    labels = one_to_one(n, left, right, prob, 0.6)

    sizes = np.bincount(np.unique(labels, return_inverse=True)[1])
    assert sizes.max() == 2
    linked = labels[left] == labels[right]
    assert np.all(prob[linked] >= 0.6)
    # greedy matching is maximal: no pair above the threshold joins two records left alone
    alone = np.bincount(labels, minlength=n)[labels] == 1
    assert not np.any(alone[left] & alone[right] & (prob >= 0.6))
    assert np.array_equal(labels, one_to_one(n, left, right, prob, 0.6))


def test_one_to_one_honours_constraints() -> None:
    left, right, prob = arr(A, C), arr(B, D), arr(0.9, 0.9)
    cons = Constraints(must=pairs_constraint((A, D)), cannot=pairs_constraint((C, B)))
    assert partition(one_to_one(5, left, right, prob, 0.5, cons)) == [[A, D], [B], [C], [E]]
    cannot = Constraints(cannot=pairs_constraint((B, A)))
    assert partition(one_to_one(4, left, right, prob, 0.5, cannot)) == [[A], [B], [C, D]]


def test_giant_component_is_split_on_stricter_links(monkeypatch):
    """A chain of 500 records (strong pairs joined by weaker links) must not end as one cluster."""
    import matcher.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "GIANT_COMPONENT", 50)
    n = 500
    left = np.arange(n - 1)
    right = left + 1
    prob = np.where(left % 2 == 0, 0.99, 0.6)
    labels = cluster_module.cluster(n, left, right, prob, 0.5, max_size=1000)
    sizes = np.bincount(np.unique(labels, return_inverse=True)[1])
    assert sizes.max() == 2
    assert (labels[0::2][:249] == labels[1::2][:249]).all()  # the strong pairs stay together
