"""The user's decisions about one output, apart from the fitted model they are applied to.

A fit learns everything about a dataset (blocking, features, the models, the balanced threshold); what the
user decides afterwards (how strict to be, whether labels are enforced, one-to-one links, a cluster cap) is a
``Decision`` passed to ``Matcher.predict``. It is validated once, here, and never written into the fitted
model: one fitted model answers any number of decisions, in any order, with the same outputs (as Splink
passes its threshold on every call and scikit-learn's ``predict`` leaves the estimator alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from matcher.errors import SettingsError, shown

# the decision threshold never reaches 0 or 1: a pair at probability exactly 0 or 1 stays decidable
THRESHOLD_RANGE = (0.01, 0.99)
HALF_SPAN = 0.49  # from either end of THRESHOLD_RANGE to 0.5 (written out: 0.5 - 0.01 is not 0.49 in floats)


def unit_interval(name: str, value: object) -> float:
    """``value`` as a float when it is a number in [0, 1], else a SettingsError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise SettingsError(f"{name} must be a number in [0, 1], got {shown(value)}")
    return float(value)


class Knobs(Protocol):
    """Where a decision's values are kept (``matcher.settings.Settings``), named here by what is read: settings
    import this module, so this one names no type of theirs (no import circle, even for the type checker)."""

    @property
    def precision_recall_tradeoff(self) -> float: ...

    @property
    def enforce_labels(self) -> bool: ...

    @property
    def one_to_one(self) -> bool | None: ...

    @property
    def max_cluster_size(self) -> int | None: ...


@dataclass(frozen=True)
class Decision:
    """precision_recall_tradeoff: 0.5 is the fitted model's balanced threshold; towards 1 the threshold moves
    linearly to 0.99 (precision), towards 0 to 0.01 (recall), see ``threshold``.
    enforce_labels: labeled matches end in one cluster, labeled non-matches in different ones.
    one_to_one: linkage links each record to at most one other; None takes the fitted model's link mode
    (the settings' choice, else decided from the data and labels, ``matcher.link_mode``).
    max_cluster_size: no cluster grows past this many records (None: no cap)."""

    precision_recall_tradeoff: float = 0.5
    enforce_labels: bool = False
    one_to_one: bool | None = None
    max_cluster_size: int | None = None

    def __post_init__(self) -> None:
        unit_interval("precision_recall_tradeoff", self.precision_recall_tradeoff)
        if not isinstance(self.enforce_labels, bool):
            raise SettingsError(f"enforce_labels must be true or false, got {shown(self.enforce_labels)}")
        if self.one_to_one is not None and not isinstance(self.one_to_one, bool):
            raise SettingsError(f"one_to_one must be true, false or null, got {shown(self.one_to_one)}")
        size = self.max_cluster_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 2):
            raise SettingsError(f"max_cluster_size must be an integer of at least 2 or null, got {shown(size)}")

    @classmethod
    def from_settings(cls, settings: Knobs) -> Decision:
        """The decisions a settings object holds (its knobs that act after the fit)."""
        return cls(precision_recall_tradeoff=settings.precision_recall_tradeoff,
                   enforce_labels=bool(settings.enforce_labels), one_to_one=settings.one_to_one,
                   max_cluster_size=settings.max_cluster_size)

    def threshold(self, balanced: float) -> float:
        """The probability a pair needs to be linked, given the fitted model's balanced threshold: tradeoff 0.5
        is ``balanced``; towards 0 or 1 the threshold moves linearly towards 0.01 or 0.99."""
        low, high = THRESHOLD_RANGE
        p = min(max(float(self.precision_recall_tradeoff), low), high)
        if p <= 0.5:
            return low + (p - low) / HALF_SPAN * (balanced - low)
        return balanced + (p - 0.5) / HALF_SPAN * (high - balanced)
