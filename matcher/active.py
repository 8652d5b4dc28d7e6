"""Active learning: choose the records a human should label next, as Glue-style labeling sets.

A set gathers records around a pair whose match probability is most uncertain, then alternately that pair's
strongest neighbours and the records whose pairs with the set are most uncertain (linkage: its strongest
rivals only), so one set holds likely matches next to hard non-matches. A pair the clustering overruled (a
strong pair left apart, a weak one joined) counts as uncertain as the output is likely wrong about it. Seeds
are spread over the data: once a record sits in a set, its neighbourhood cannot seed another set, and half
of the seeds are drawn at random, weighted by uncertainty, rather than strictly by rank. Records that
already carry a label are never asked again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matcher.cluster import components

if TYPE_CHECKING:
    from matcher.pipeline import Matcher

SET_NAMESPACE = uuid.UUID("6f1c1b9e-6a43-4c0e-9d7e-5f0f4e0d7a11")
MIN_SET, MAX_SET = 2, 20
MIN_SEED_POOL = 5000
# records per seed pair in a linkage set: the pair and its strongest rivals. On Amazon-Google 2, 4, 6 and a whole
# set per seed ended within noise after 5 rounds; 6 learnt fastest in rounds 1-4 (mean of 4 seeds)
LINKAGE_GROUP = 6


@dataclass
class LabelingSet:
    set_id: str
    rows: np.ndarray  # record positions
    reason: dict


def uncertainty(prob: np.ndarray) -> np.ndarray:
    """1 at p=0.5, 0 at p in {0, 1}."""
    return 1.0 - np.abs(2.0 * prob - 1.0)


def _adjacency(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> list[list[tuple[float, int]]]:
    adj: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    for a, b, p in zip(left.tolist(), right.tolist(), prob.tolist(), strict=True):
        adj[a].append((p, b))
        adj[b].append((p, a))
    return adj


def _seed_order(score: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Highest ``score`` (``_seed_scores``) first, interleaved with random draws weighted by it (diversity)."""
    ranked = np.argsort(-score, kind="stable")
    # once the model is confident few pairs are uncertain: keep going down the ranking rather than stop short
    pool = ranked[: max(int((score > 0.05).sum()), MIN_SEED_POOL)]
    shuffled = pool[_weighted_permutation(score[pool], rng)]
    order = np.empty(len(pool) * 2, dtype=np.int64)
    order[0::2], order[1::2] = pool, shuffled
    _, first = np.unique(order, return_index=True)
    return order[np.sort(first)]


def _seed_scores(matcher: Matcher) -> np.ndarray:
    """How much labeling each candidate pair could change the output: its uncertainty, or, for a pair the
    clustering overruled, the probability the output is wrong about it (p for a pair left apart, 1 - p for
    one joined). Average linkage leaves a strong pair apart when its records' other pairs are weak, and joins
    a weak pair through others; such a pair is sure to the model, so uncertainty sampling never asks about
    it (Febrl3: a record at p = 0.996 from its original, 0.07 and 0.12 from the two other duplicates, stayed
    a singleton for two rounds). One-to-one links leave a record's strong rivals apart by design: skipped."""
    prob = matcher.prob_
    score = uncertainty(prob)
    if matcher.links_one_to_one:
        return score
    clusters, _ = matcher.cluster_labels(matcher.default_decision, False)
    joined = clusters[matcher.candidates_.left] == clusters[matcher.candidates_.right]
    overruled = joined != (prob >= matcher.threshold)
    return np.where(overruled, np.maximum(score, np.where(joined, 1.0 - prob, prob)), score)


def _weighted_permutation(weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order drawn without replacement with probability proportional to ``weight`` (Efraimidis and
    Spirakis 2006). A uniform draw over the padded pool wasted the diversity half of the seeds once the model
    is confident: on Febrl3 after 100 labels 80 pairs are uncertain, the other 4,920 of the pool are sure, and
    5 of 10 sets grew around pairs at p = 0.994 without one misjudged pair among them."""
    keys = np.log(rng.random(len(weight))) / np.maximum(weight, 1e-12)
    return np.argsort(-keys, kind="stable")


def _grow(seed: tuple[int, int], adj, blocked: np.ndarray, size: int, linkage: bool) -> list[int]:
    """The seed pair, then alternately the seed's strongest free neighbour and the free neighbour whose pairs
    with the members so far are the most uncertain in total. Strongest-first alone fills a set with one
    large entity the model already links (cora: ~80% of a set's pairs were matches, few were wrong); the
    uncertain picks bring in the hard matches and non-matches around it (5x more misjudged pairs per set).
    Linkage groups keep strongest-first: a record has one counterpart, so its strongest rivals are the hard
    non-matches already (tuned on Amazon-Google; the mix there was within noise, +0.011 and -0.009 F1)."""
    members: list[int] = []
    strongest = iter(o for _, o in sorted(adj[seed[0]] + adj[seed[1]], key=lambda e: -e[0]))
    gain: dict[int, float] = {}  # free neighbour -> summed uncertainty of its pairs with the members

    def add(member: int) -> None:
        members.append(member)
        gain.pop(member, None)
        for p, other in adj[member]:
            if other not in members and not blocked[other]:
                gain[other] = gain.get(other, 0.0) + 1.0 - abs(2.0 * p - 1.0)

    add(seed[0])
    add(seed[1])
    while len(members) < size and gain:
        pick = None
        if linkage or len(members) % 2:  # odd steps: the strongest neighbour not yet in the set (in gain while free)
            pick = next((o for o in strongest if o in gain), None)
            if pick is None and linkage:  # a linkage group is the seed pair and its rivals only
                break
        add(max(gain, key=gain.__getitem__) if pick is None else pick)
    return members


def _reason(members: list[int], seed_prob: float, pair_prob: dict[tuple[int, int], float]) -> dict:
    """Why this set: its seed pair's probability and the spread of its pairs' probabilities (for the UI)."""
    inside = [p for (a, b), p in pair_prob.items() if a in members and b in members]
    return {"seed_pair_probability": round(seed_prob, 4), "records": len(members),
            "scored_pairs": len(inside), "likely_matches": int(sum(p >= 0.5 for p in inside)),
            "uncertain_pairs": int(sum(0.2 <= p <= 0.8 for p in inside)),
            "pair_probabilities": sorted((round(p, 3) for p in inside), reverse=True)[:20]}


def _seed_groups(matcher: Matcher, adj, order: np.ndarray, blocked: np.ndarray, group: int):
    """(members, seed probability) for each seed pair in ``order`` grown to ``group`` records; a second pass
    drops the spread rule if the data is too small for it."""
    left, right, prob = matcher.candidates_.left, matcher.candidates_.right, matcher.prob_
    in_set = np.zeros(matcher.table_.n, dtype=bool)
    for spread in (True, False):
        near = in_set.copy()
        for i in order:
            a, b = int(left[i]), int(right[i])
            if blocked[a] or blocked[b] or in_set[a] or in_set[b] or (spread and (near[a] or near[b])):
                continue
            members = _grow((a, b), adj, blocked | in_set, group, matcher.table_.source is not None)
            in_set[members] = True
            for m in members:  # the neighbourhood may not seed another group: spread over the data
                near[[o for _, o in adj[m]]] = True
            yield members, float(prob[i])


def choose_sets(matcher: Matcher, num_sets: int = 10, set_size: int = 12, exclude: set[str] | None = None,
                seed: int = 0) -> list[LabelingSet]:
    """Up to ``num_sets`` sets. Deduplication: one seed pair and its neighbourhood per set. Linkage: several
    seed pairs per set, each with its strongest rivals, because a linkage neighbourhood holds about one match
    (each record has at most one counterpart) and an answer on one uncertain pair teaches more than ten
    answers on the obvious non-matches around it."""
    n, prob = matcher.table_.n, matcher.prob_
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    blocked = np.isin(keys, list(exclude or ()))
    adj = _adjacency(n, matcher.candidates_.left, matcher.candidates_.right, prob)
    size = min(max(set_size, MIN_SET), MAX_SET)
    linkage = matcher.table_.source is not None
    group = min(LINKAGE_GROUP, size) if linkage else size
    sets: list[LabelingSet] = []
    members: list[int] = []
    seeds: list[float] = []
    order = _seed_order(_seed_scores(matcher), np.random.default_rng(seed))
    threshold = float(matcher.threshold)  # the model's own cut: what FIND_MATCHES would link
    for grown, seed_prob in _seed_groups(matcher, adj, order, blocked, group):
        members += grown[:size - len(members)]  # the last group of a set may keep only its seed pair
        seeds.append(seed_prob)
        if not linkage or len(members) > size - MIN_SET:  # no room left for another pair
            sets.append(_labeling_set(members, seeds, adj, keys, threshold))
            members, seeds = [], []
        if len(sets) >= num_sets:
            break
    if members and len(sets) < num_sets:
        sets.append(_labeling_set(members, seeds, adj, keys, threshold))
    return sets


def _labeling_set(members: list[int], seeds: list[float], adj, keys: np.ndarray, threshold: float) -> LabelingSet:
    local = {(x, y): p for x in members for p, y in adj[x] if x < y}
    name = uuid.uuid5(SET_NAMESPACE, "|".join(sorted(str(keys[m]) for m in members)))
    reason = _reason(members, seeds[0], local)
    reason["seed_pairs"] = len(seeds)
    groups = suggested_groups(members, local, threshold)
    reason["suggested_groups"] = [[str(keys[m]) for m in group] for group in groups]
    return LabelingSet(str(name), np.array(members), reason)


def suggested_groups(members: list[int], pair_prob: dict[tuple[int, int], float], threshold: float) -> list[list[int]]:
    """The model's guess at the set's entities: records joined by a pair at or above ``threshold`` (connected
    components of the set's own pairs), each group in set order, groups in the order of their first member. The
    labeling screen puts each group's records next to each other, so a labeler confirms or splits a guess
    instead of hunting for duplicates across the set."""
    local = {m: i for i, m in enumerate(members)}
    strong = [(local[a], local[b]) for (a, b), p in pair_prob.items() if p >= threshold and a in local and b in local]
    pairs = np.array(strong, dtype=np.int64).reshape(-1, 2)
    root = dict(zip(members, components(len(members), pairs[:, 0], pairs[:, 1]).tolist(), strict=True))
    groups: dict[int, list[int]] = {}
    for m in members:
        groups.setdefault(root[m], []).append(m)
    return list(groups.values())


def labeling_file(matcher: Matcher, sets: list[LabelingSet]) -> pd.DataFrame:
    """Glue's labeling file: labeling_set_id, label (empty), every input column in input order."""
    frames = []
    for s in sets:
        rows = matcher.records_.iloc[s.rows]
        frames.append(pd.concat([pd.DataFrame({"labeling_set_id": s.set_id, "label": ""}, index=rows.index),
                                 rows], axis=1))
    if not frames:
        return pd.DataFrame(columns=["labeling_set_id", "label", *matcher.records_.columns])
    return pd.concat(frames, ignore_index=True)
