"""The classifier's view of a pair: its comparison features, the unsupervised model's weight, and for each context
score (the Fellegi-Sunter weight, free-text cosines) the gap to each record's best candidate: a pair that is both
records' best option is far more often a match (strong in linkage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matcher.features import PairFeatures, context_similarities

if TYPE_CHECKING:
    from matcher.fs import FellegiSunter
    from matcher.settings import Settings


def context_scores(fs: FellegiSunter, settings: Settings, features: PairFeatures) -> list[np.ndarray]:
    """Scores whose best value per record gives context: the FS weight and free-text cosines."""
    cosines = [np.nan_to_num(v, nan=0.0) for v in context_similarities(features, settings.data_columns)]
    return [fs.match_weight(features), *cosines]


def best_per_record(scores: list[np.ndarray], features: PairFeatures, n: int) -> list[np.ndarray]:
    """Each score's best value over each record's candidate pairs (-inf for a record in none)."""
    best = []
    for score in scores:
        top = np.full(n, -np.inf)
        np.maximum.at(top, features.left, score)
        np.maximum.at(top, features.right, score)
        best.append(top)
    return best


def pair_design(features: PairFeatures, scores: list[np.ndarray], best: list[np.ndarray]) -> np.ndarray:
    """Pair features, then per context score the score and its gaps to both records' best (float32, NaN for
    anything not finite)."""
    X, _ = features.matrix()
    cols = [X]
    for score, top in zip(scores, best, strict=True):
        cols += [score[:, None], (score - top[features.left])[:, None], (score - top[features.right])[:, None]]
    design = np.column_stack(cols).astype(np.float32)
    design[~np.isfinite(design)] = np.nan
    return design
