"""Completion thresholds validated on what the machine would label (:mod:`matcher.auto_plan_check`), and chains of
sure matches in a set's plan (:func:`matcher.auto_complete._plan_set`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.auto_complete import _plan_set
from matcher.auto_plan_check import _simulate
from matcher.auto_thresholds import choose_thresholds


def held_out_set(prob: dict[tuple[int, int], float], label: list[str]) -> tuple[list[int], pd.DataFrame, dict]:
    members = list(range(len(label)))
    parts = [(a, b, prob.get((a, b), 0.5), False) for a in members for b in members if a < b]
    return members, pd.DataFrame(parts, columns=["a", "b", "prob", "rule"]), dict(enumerate(label))


def three_of_one_entity(link_ac: float = 0.6) -> tuple[list[int], pd.DataFrame, dict]:
    """Records 0, 1, 2 of one entity (0-1 and 1-2 sure, 0-2 as given), 3 and 4 apart and unsure of each other."""
    return held_out_set({(0, 1): 0.99, (1, 2): 0.99, (0, 2): link_ac, (3, 4): 0.5},
                        ["e", "e", "e", "f", "g"])


def test_a_chain_of_sure_matches_joins_a_group_only_when_allowed_and_never_over_a_sure_non_match() -> None:
    members, pairs, _ = three_of_one_entity()
    keys = np.array([str(m) for m in members], dtype=object)
    assert not _plan_set("s", members, pairs, 0.05, 0.95, keys).machine_records  # 0-2 unsure: humans
    chained = _plan_set("s", members, pairs, 0.05, 0.95, keys, chains=True)
    assert chained.machine_records == 2 and len(chained.followers) == 2
    members, pairs, _ = three_of_one_entity(link_ac=0.01)  # 0-2 a sure non-match: the chain is inconsistent
    assert not _plan_set("s", members, pairs, 0.05, 0.95, keys, chains=True).machine_records


def test_a_completion_qualifies_on_its_labels_where_no_pair_threshold_can() -> None:
    """Ten held-out sets, each with one entity of three records (2 sure pairs, the third pair unsure): 20 pairs
    beyond a sure cut, too few for a pair threshold's bound (59 all right at 0.95), but the chained completion
    labels 20 records and their 70 pairs, all right, bound above 0.95."""
    sets = [three_of_one_entity() for _ in range(10)]
    prob = np.concatenate([p["prob"].to_numpy() for _, p, _ in sets])
    truth = np.concatenate([[label[a] == label[b] for a, b in zip(p["a"], p["b"], strict=True)]
                            for _, p, label in sets])
    assert choose_thresholds(prob, truth, 0.95).high is None
    assert _simulate(sets, -np.inf, 0.95, False, 0.95, 0.95, 20) is None  # without chains: nothing taken
    taken, pairs, share, bound = _simulate(sets, -np.inf, 0.95, True, 0.95, 0.95, 20)
    assert taken == 20 and pairs == 70 and share == 1.0 and bound >= 0.95


def test_a_completion_that_mislabels_the_matches_does_not_qualify() -> None:
    """The same sets, but in three of them record 2 is another entity the model chains in: 6 wrong verdicts out
    of 70 pairs (0.914 right), the wrong ones matches: neither the share nor the class guard holds."""
    good = [three_of_one_entity() for _ in range(7)]
    bad = [held_out_set({(0, 1): 0.99, (1, 2): 0.99, (0, 2): 0.6, (3, 4): 0.5}, ["e", "e", "x", "f", "g"])
           for _ in range(3)]
    assert _simulate(good + bad, -np.inf, 0.95, True, 0.95, 0.95, 20) is None
