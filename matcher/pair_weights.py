"""How much each labeled pair counts in training: the confidence of its consolidated verdict.

Several labelers answer a set; :mod:`matcher.consolidation` gives each pair a posterior ``p = P(match | answers)``
and :func:`matcher.consolidation.group_labels` turns the verdicts into record groups, which are what the matcher
trains on. A pair decided 2-1 by doubtful labelers is then as loud as one decided 3-0 by reliable ones.
:func:`confidence_weights` gives each training pair the posterior of the side its training label took: ``p``
for a match, ``1 - p`` for a non-match, i.e. ``max(p, 1 - p)`` where the groups kept the consolidated verdict.
Where the grouping reversed a verdict (a ~ b, b ~ c, a !~ c made one group) the weight is below 0.5: the
training label goes against what the answers said about that pair, and counts for as little as they support it.
It is the probability that the training label is right, so a weighted fit is the expected loss over the labels'
uncertainty (each pair counted with the chance its label is true); a pair nobody answered twice (one labeler,
an imported file, a reviewer's decision absent from the consolidation) weighs 1.

The weights are a frame ``labeling_set_id, key_a, key_b, weight`` (``key_a < key_b``, as
:meth:`matcher.labels.Labels.pairs`), an input of ``Matcher.fit`` / ``Matcher.refit_labels`` checked once, by
:func:`aligned_weights`, against the labeled pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.consolidation import PAIR_KEY
from matcher.errors import LabelError, shown
from matcher.labels import Labels

WEIGHT_COLUMNS = [*PAIR_KEY, "weight"]


def confidence_weights(posteriors: pd.DataFrame, labels: Labels) -> pd.DataFrame:
    """Every pair of ``labels`` (the groups trained on) with the consolidated posterior of its training label's
    side; 1 for pairs the consolidation did not see. ``posteriors``: ``labeling_set_id, key_a, key_b,
    posterior``, e.g. ``Consolidated.pairs``; its pairs ``labels`` does not hold are ignored."""
    pairs = labels.pairs()[[*PAIR_KEY, "is_match"]]
    posterior = posteriors[[*PAIR_KEY, "posterior"]].astype({c: str for c in PAIR_KEY})
    both = pairs.merge(posterior, on=PAIR_KEY, how="left")
    p = both["posterior"].to_numpy(dtype=float)
    side = np.where(both["is_match"].to_numpy(dtype=bool), p, 1.0 - p)
    return both[PAIR_KEY].assign(weight=np.where(np.isnan(p), 1.0, side))[WEIGHT_COLUMNS]


def aligned_weights(pairs: pd.DataFrame, weights: pd.DataFrame | None) -> np.ndarray | None:
    """The weight of each row of ``pairs`` (``Labels.pairs()``) from ``weights`` (:data:`WEIGHT_COLUMNS`): None
    without weights; 1 for a pair ``weights`` does not name. Raises :class:`LabelError` on a frame missing a
    column, a weight that is not a finite number >= 0, a pair named twice, or a pair that is not labeled."""
    if weights is None:
        return None
    missing = [c for c in WEIGHT_COLUMNS if c not in weights.columns]
    if missing:
        raise LabelError(f"pair weights need columns {WEIGHT_COLUMNS}; missing {missing}")
    value = pd.to_numeric(weights["weight"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(value) | (value < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise LabelError(f"pair weights: weight must be a finite number >= 0; row {row} has "
                         f"{shown(weights['weight'].iloc[row])} ({int(bad.sum())} such row(s))")
    keys = weights[PAIR_KEY].astype(str)
    repeated = keys.duplicated()
    if repeated.any():
        raise LabelError(f"pair weights name pair {_named(keys, repeated)} more than once")
    index = pd.MultiIndex.from_frame(pairs[PAIR_KEY].astype(str))
    position = index.get_indexer(pd.MultiIndex.from_frame(keys))
    unknown = position < 0
    if unknown.any():
        raise LabelError(f"pair weights name {int(unknown.sum())} pair(s) the labels do not hold, e.g. "
                         f"{_named(keys, unknown)}")
    out = np.ones(len(pairs))
    out[position] = value
    return out


def _named(keys: pd.DataFrame, mask: np.ndarray | pd.Series) -> str:
    row = keys[np.asarray(mask)].iloc[0]
    return f"{shown(row['key_a'])}-{shown(row['key_b'])} in set {shown(row[PAIR_KEY[0]])}"
