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
    from matcher.pipeline import Matcher


def contributions(matcher: Matcher, features: PairFeatures) -> dict[str, np.ndarray]:
    if matcher.classifier_ is None:
        return matcher.fs_.column_weights(features)
    clf = matcher.classifier_
    base = clf.log2_odds(matcher.design(features))
    return {c.name: base - clf.log2_odds(matcher.design(features.without(c.name)))
            for c in matcher.settings_.data_columns}


def pairs_frame(matcher: Matcher, min_probability: float = 0.05) -> pd.DataFrame:
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
