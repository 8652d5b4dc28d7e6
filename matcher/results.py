"""The values the matcher's stages hand each other: labeled pairs in, a match result out.

They live apart from ``pipeline`` so that the stages which build or read them (``assemble``, ``evaluate``)
import them without importing the pipeline that imports those stages (no import cycle; tests/test_layers.py).
``matcher.pipeline`` still exposes both names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class LabeledPairs:
    """Labeled pairs as record positions. ``weight``: how much each pair counts in training (e.g. the confidence
    of a consolidated verdict, ``matcher.pair_weights``); None: every pair counts once, as ever."""

    left: np.ndarray
    right: np.ndarray
    is_match: np.ndarray
    set_id: np.ndarray
    weight: np.ndarray | None = None

    def subset(self, idx: np.ndarray) -> LabeledPairs:
        """These pairs at ``idx`` (positions or a mask), their weights with them."""
        weight = None if self.weight is None else self.weight[idx]
        return LabeledPairs(self.left[idx], self.right[idx], self.is_match[idx], self.set_id[idx], weight)


@dataclass
class MatchResult:
    records: pd.DataFrame  # input rows + match_id + match_confidence_score
    stats: dict[str, Any] = field(default_factory=dict)
