"""When to stop labeling: how much the last rounds of labels changed the matches, and the change one more round
is expected to bring (stabilizing predictions, Bloodgood & Vijay-Shanker 2009).

The labeled sets are put in the order they were labeled (the earliest ``labeled_at`` of each set when every set
has one, else the order the labels arrived in) and grouped into rounds: the sets of one generation when the
caller knows them (the service does: each labeling set remembers the task run that generated it), else chunks of
:data:`ROUND_SETS` sets in labeling order (the default number of sets one generation proposes).

The matcher as fitted on every round is compared with the same matcher refitted without the last round, and
that one with the matcher refitted without the last two rounds: each model clusters the *whole table* as
``match`` would (its own threshold, one-to-one links, labels enforced), and the pairwise F1 of one clustering
against the other says how far the round moved the matches. ``1 - F1`` is the round's *change*: a change ``d``
moves the table's F1 against the truth by at most about ``2 d`` (every changed pair a fix) and in practice by
less than ``d``, as a round both fixes and breaks pairs. Unlike a learning curve scored on the labeled pairs
(which active learning picks where the model is unsure, so their F1 runs far below the table's and moves in
other units), the change is in the units of the table's F1, and costs two refits instead of a curve's folds.

The next round's change is extrapolated from the last two: a shrinking change is expected to keep shrinking at
the same rate (``d_r * d_r / d_{r-1}``), a change that did not shrink to stay as large (``d_r``); a round of
fewer sets than a typical round (a generation half labeled) has its change counted in proportion first. "Stop" is an
expected change under :data:`SMALL_GAIN`: then the next round cannot be expected to add that much F1 either.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from matcher.consolidation import PAIR_KEY
from matcher.labels import SET_COLUMN, Labels

if TYPE_CHECKING:
    from matcher.pipeline import Matcher

ROUND_SETS = 10
"""Sets per round when generations are unknown: what one labeling-set generation proposes by default."""
MIN_ROUNDS = 3
"""Fewest rounds to advise on: two changes between three labeled models (the first model trained on labels,
not the unsupervised start, whose change says how far the cold start was off, not how labeling is going)."""
SMALL_GAIN = 0.002
"""Below this expected change per round, labeling more is reported as unlikely to help."""


@dataclass(frozen=True)
class Rounds:
    """Labeled set ids in labeling order, grouped into rounds; how the rounds were found; and the sets in a
    typical round, what "another round" means in the advice: the chunk size when any round is a chunk (a last,
    partial chunk says nothing about a round's size), else the median number of sets a generation proposed
    (labeled or not: a half-labeled generation still says what a round asks)."""

    groups: list[list[str]]
    source: str
    round_sets: int


def labeling_order(labels: Labels) -> list[str]:
    """Set ids by their earliest ``labeled_at`` when every set has one, else by their first row."""
    rows = labels.rows
    first_seen = list(dict.fromkeys(rows[SET_COLUMN]))
    stamps = pd.to_datetime(rows["labeled_at"], utc=True, errors="coerce", format="ISO8601")
    earliest = stamps.groupby(rows[SET_COLUMN].to_numpy()).min()
    if earliest.isna().any() or len(earliest) != len(first_seen):
        return first_seen
    position = {s: i for i, s in enumerate(first_seen)}
    return sorted(first_seen, key=lambda s: (earliest[s], position[s]))


def group_rounds(order: list[str], generation: Mapping[str, str] | None = None,
                 round_sets: int = ROUND_SETS) -> Rounds:
    """Sets of one generation form a round (ordered by their first labeled set); sets without a known
    generation (imported labels) form chunks of ``round_sets`` in labeling order, placed where they start."""
    generation = generation or {}
    rounds: dict[str, list[str]] = {}
    unknown = 0
    for set_id in order:
        if set_id in generation:
            key = f"g:{generation[set_id]}"
        else:
            key, unknown = f"c:{unknown // round_sets}", unknown + 1
        rounds.setdefault(key, []).append(set_id)
    known = sum(1 for s in order if s in generation)
    source = ("labeling-set generations" if unknown == 0 else
              f"chunks of {round_sets} sets in labeling order" if known == 0 else
              f"labeling-set generations, and chunks of {round_sets} sets for the {unknown} imported set(s)")
    groups = list(rounds.values())
    proposed = Counter(generation.values()).values()  # sets per generation, labeled or not
    typical = round_sets if unknown or not groups else max(1, round(float(np.median(list(proposed)))))
    return Rounds(groups, source, typical)


def clustering_change(a: np.ndarray, b: np.ndarray, source: np.ndarray | None = None) -> float:
    """``1 -`` the pairwise F1 of clustering ``a`` against clustering ``b`` (a cluster id per record): the share
    of linked pairs one has and the other has not, counted as the benchmarks count F1 (in linkage only pairs
    across sources). 0 for two identical clusterings (or two without any pair)."""
    a, b = _codes(a), _codes(b)
    in_a, in_b = _linked_pairs(a, source), _linked_pairs(b, source)
    both = _linked_pairs(a * (int(b.max(initial=0)) + 1) + b, source)  # records together in both
    return 1.0 - 2 * both / (in_a + in_b) if in_a + in_b else 0.0


def _codes(cluster: np.ndarray) -> np.ndarray:
    """Cluster ids (any type: the matcher's ints, a result's string ``match_id``) as codes 0..k-1."""
    return np.unique(cluster, return_inverse=True)[1].ravel().astype(np.int64)


def _linked_pairs(cluster: np.ndarray, source: np.ndarray | None) -> int:
    """Record pairs sharing a cluster; with sources, only pairs of records from different sources: a cluster
    of ``N`` records with ``n_s`` from source ``s`` holds ``(N^2 - sum n_s^2) / 2`` of them."""
    codes = _codes(cluster)
    size = np.bincount(codes).astype(np.int64)
    if source is None:
        return int((size * (size - 1) // 2).sum())
    same = np.zeros(len(size), dtype=np.int64)
    for s in np.unique(source):
        same += np.bincount(codes[source == s], minlength=len(size)).astype(np.int64) ** 2
    return int(((size ** 2 - same) // 2).sum())


def _clusters(matcher: Matcher) -> np.ndarray:
    """The cluster of each record under the matcher's own default decision, as ``predict`` draws them."""
    decision = matcher.default_decision
    one = matcher.links_one_to_one if decision.one_to_one is None else bool(decision.one_to_one)
    return matcher.cluster_labels(decision, one)[0]


def _without(matcher: Matcher, dropped: set[str]) -> Matcher:
    """The matcher refitted on its labels without the sets ``dropped`` (the last rounds), each remaining pair
    keeping the weight it had."""
    labels = matcher.labels_
    assert labels is not None and matcher.labeled_ is not None
    kept = Labels(labels.rows[~labels.rows[SET_COLUMN].isin(dropped)])
    weights = None
    if matcher.labeled_.weight is not None:  # labeled_ holds labels.pairs() in order
        pairs = labels.pairs()[PAIR_KEY].assign(weight=matcher.labeled_.weight)
        weights = pairs[~pairs[SET_COLUMN].isin(dropped)]
    with warnings.catch_warnings():  # a few rounds of labels may warn of few pairs: the full fit did already
        warnings.simplefilter("ignore")
        return matcher.refit_labels(kept, weights=weights)


def next_change(changes: list[float]) -> float:
    """The next round's change from the last two: shrinking at the rate it last shrank, else as large as the
    last (a change that grew says nothing of settling down)."""
    before, last = changes[-2], changes[-1]
    return last * min(1.0, last / before) if before > 0 else last


def stop_advice(matcher: Matcher, generation: Mapping[str, str] | None = None) -> dict[str, Any]:
    """How much each of the last two rounds changed the whole table's clusters, the change expected from one
    more round, as JSON; ``sentence`` says it plainly. ``expected_gain`` is that expected change: an upper
    estimate of what the round adds to the table's F1, not the gain itself. ``generation`` maps set ids to the
    run that generated them, when known."""
    if matcher.labels_ is None or matcher.labeled_ is None:
        return _fallback("labeling order unknown (a saved model's labels carry no order): cannot tell how "
                         "much the last rounds changed", None)
    rounds = group_rounds(labeling_order(matcher.labels_), generation)
    size = rounds.round_sets
    if len(rounds.groups) < MIN_ROUNDS:
        missing = max(1, MIN_ROUNDS * size - sum(len(g) for g in rounds.groups))
        return _fallback(f"not enough labeled rounds to estimate: label at least {missing} more set(s) "
                         f"({MIN_ROUNDS} rounds of about {size} set(s)) to see whether labeling more helps", rounds)
    last, before = set(rounds.groups[-1]), set(rounds.groups[-2])
    models = [_without(matcher, last | before), _without(matcher, last), matcher]
    clusters = [_clusters(m) for m in models]
    source = matcher.table_.source
    changes = [clustering_change(clusters[i + 1], clusters[i], source) for i in range(2)]
    # a round of fewer sets than a typical one (a generation half labeled) changes less for that alone
    per_round = [d * size / len(g) for d, g in zip(changes, rounds.groups[-2:], strict=True)]
    expected = next_change(per_round)
    n_rounds = len(rounds.groups)
    points = [{"rounds": k, "sets": sum(len(g) for g in rounds.groups[:k]),
               "linked_pairs": _linked_pairs(c, source), "change": None if i == 0 else round(changes[i - 1], 4)}
              for i, (k, c) in enumerate(zip(range(n_rounds - 2, n_rounds + 1), clusters, strict=True))]
    return {"status": "estimated", "sentence": _sentence(expected, size, changes), "expected_gain": round(expected, 4),
            "round_sets": size, "rounds": n_rounds, "labeled_sets": points[-1]["sets"], "rounds_from": rounds.source,
            "curve": points, "fit": {"changes": [round(c, 4) for c in changes],
                                     "changes_per_round": [round(c, 4) for c in per_round],
                                     "rate": round(per_round[1] / per_round[0], 3) if per_round[0] > 0 else None,
                                     "form": "change = 1 - pairwise F1 of a model's clusters against the previous "
                                             f"model's, per round of {size} sets; next = last * min(1, last / before)"}}


def _sentence(expected: float, size: int, changes: list[float]) -> str:
    seen = (f" (the last two rounds changed the matches by {changes[0]:.4f} and {changes[1]:.4f} F1, "
            "each model's clusters against the one before)")
    if expected < SMALL_GAIN:
        return (f"another round of {size} sets is expected to add less than {SMALL_GAIN} F1: "
                f"labeling more is unlikely to help{seen}")
    return f"another round of {size} sets is expected to change the matches by about {expected:.4f} F1{seen}"


def _fallback(sentence: str, rounds: Rounds | None) -> dict[str, Any]:
    return {"status": "not_enough_rounds" if rounds is not None else "unknown_order", "sentence": sentence,
            "expected_gain": None, "round_sets": rounds.round_sets if rounds else None,
            "rounds": len(rounds.groups) if rounds else None,
            "labeled_sets": sum(len(g) for g in rounds.groups) if rounds else None,
            "rounds_from": rounds.source if rounds else None, "curve": [], "fit": None}
