"""What a fitted matcher offers the modules that read it (``assemble``, ``clustering_step``, ``explain``,
``model_file``), as a Protocol: they name its type without importing ``matcher.pipeline``, which imports them, so
no import circle is left, not even one only the type checker follows. ``matcher.pipeline.Matcher`` satisfies it;
every member is read-only, as the fitted model is a value (nothing outside ``matcher/`` writes into it, and these
readers do not either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from matcher.blocking import Blocker
    from matcher.cluster import Constraints
    from matcher.competition import Competition
    from matcher.decision import Decision
    from matcher.features import PairFeatures
    from matcher.frozen import Classifier
    from matcher.fs import FellegiSunter
    from matcher.link_mode import LinkMode
    from matcher.results import LabeledPairs
    from matcher.settings import Settings
    from matcher.table import PreparedTable


class FittedMatcher(Protocol):
    @property
    def settings_(self) -> Settings: ...  # with the profiled columns

    @property
    def records_(self) -> pd.DataFrame: ...

    @property
    def table_(self) -> PreparedTable: ...

    @property
    def blocker_(self) -> Blocker: ...

    @property
    def candidates_(self) -> PairFeatures: ...

    @property
    def fs_(self) -> FellegiSunter: ...

    @property
    def fs_prob_(self) -> np.ndarray: ...

    @property
    def cold_start_choice_(self) -> dict[str, Any]: ...

    @property
    def labeled_(self) -> LabeledPairs | None: ...

    @property
    def classifier_(self) -> Classifier | None: ...

    @property
    def competition_(self) -> Competition | None: ...

    @property
    def link_mode_(self) -> LinkMode: ...

    @property
    def links_one_to_one(self) -> bool: ...

    @property
    def prob_(self) -> np.ndarray: ...

    @property
    def balanced_threshold_(self) -> float: ...

    def design(self, features: PairFeatures) -> np.ndarray: ...

    def scored_kind(self, lab: LabeledPairs) -> LabeledPairs: ...

    def constraints(self) -> Constraints: ...

    def cluster_labels(self, decision: Decision, one: bool) -> tuple[np.ndarray, tuple[np.ndarray, ...]]: ...

    def score_pairs(self, left: np.ndarray, right: np.ndarray) -> np.ndarray: ...
