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
    left: np.ndarray
    right: np.ndarray
    is_match: np.ndarray
    set_id: np.ndarray


@dataclass
class MatchResult:
    records: pd.DataFrame  # input rows + match_id + match_confidence_score
    stats: dict[str, Any] = field(default_factory=dict)
