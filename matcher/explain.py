"""Explanations as first-class output: each scored pair with every column's contribution to its score.

Contributions are log2 odds. Under the unsupervised model they are the Fellegi-Sunter match weights, which
add up to the pair's total. Under the classifier they are ablations: how much the log odds drop when that
column is treated as unknown (on the boosted trees' raw log odds, which do not saturate like the
calibrated probability), which is honest for any model though they need not add up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matcher.features import PairFeatures

if TYPE_CHECKING:
    from matcher.fitted import FittedMatcher


def contributions(matcher: FittedMatcher, features: PairFeatures) -> dict[str, np.ndarray]:
    if len(features) == 0:  # no pair above the asked probability: the classifier refuses an empty matrix
        names = ablated(matcher) if matcher.classifier_ is not None else \
            [c.name for c in matcher.settings_.data_columns]
        return {name: np.zeros(0) for name in names}
    if matcher.classifier_ is None:
        return matcher.fs_.column_weights(features)
    odds = matcher.classifier_.log2_odds(ablation_matrix(matcher, features))
    return ablation_contributions(matcher, odds)


def ablated(matcher: FittedMatcher) -> list[str]:
    """What the classifier's explanations take away in turn: each data column, then each extra comparator (its
    similarities are named ``<name>:...`` like a column's, see ``matcher.extra_comparators``)."""
    return [c.name for c in matcher.settings_.data_columns] + [e.name for e in matcher.settings_.extra_comparators]


def ablation_matrix(matcher: FittedMatcher, features: PairFeatures) -> np.ndarray:
    """The pairs' design rows as they are, then again with each of ``ablated`` unknown in turn (one block of
    ``len(features)`` rows each): one matrix, so the service can spread its scoring over workers."""
    blocks = [matcher.design(features)]
    blocks += [matcher.design(features.without(name)) for name in ablated(matcher)]
    return np.vstack(blocks)


def ablation_contributions(matcher: FittedMatcher, odds: np.ndarray) -> dict[str, np.ndarray]:
    """Each column's (and extra comparator's) contribution from the classifier's log2 odds of
    ``ablation_matrix``'s rows."""
    names = ablated(matcher)
    n = len(odds) // (len(names) + 1)
    base = odds[:n]
    return {name: base - odds[(i + 1) * n:(i + 2) * n] for i, name in enumerate(names)}


def pairs_frame(matcher: FittedMatcher, min_probability: float = 0.05) -> pd.DataFrame:
    """Candidate pairs scoring at least ``min_probability``, strongest first, with per-column contributions."""
    keep = matcher.prob_ >= min_probability
    features = matcher.candidates_.subset(keep)
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    frame = pd.DataFrame({
        "key_a": keys[features.left],
        "key_b": keys[features.right],
        "match_probability": np.round(matcher.prob_[keep], 6),
    })
    for column, weight in contributions(matcher, features).items():
        frame[f"{column}_contribution"] = np.round(weight, 4)
    return frame.sort_values("match_probability", ascending=False, kind="stable").reset_index(drop=True)
