"""A transform's labeling policy: how many labelers answer each set, what they see, how answers become labels.

Stored as JSON on the transform (``transforms.labeling_policy``; null = every default). Validated here once, at the
boundary (a 422 naming the field), and read everywhere as a :class:`LabelingPolicy` value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from matcher.consolidation import MIN_LABELER_ANSWERS
from matcher.errors import shown
from services.errors import ValidationError

METHODS = ("auto", "dawid_skene", "majority_vote")
AUTO_LABEL_MODES = ("sets", "complete")
MAX_ANSWERS = 9
MAX_GOLD_SHARE = 0.5


@dataclass(frozen=True)
class LabelingPolicy:
    answers_per_set: int = 1
    """Labelers who answer each set. 1: the set is decided by its one answer (a later save replaces it, recorded
    in the history); more: each labeler's answer is kept and the set is decided by consolidating them."""
    blind: bool = False
    """Labelers see neither the model's probabilities nor why a set was chosen nor its suggested groups (against
    anchoring on the model); admins and reviewers still do."""
    gold_share: float = 0.0
    """Share of the sets handed to a labeler that are gold sets (answers known), mixed in unmarked."""
    consolidation: str = "auto"
    """How several answers become one: auto (Dawid-Skene once the answers can estimate each labeler's
    confusion, else majority vote), dawid_skene or majority_vote (``matcher.consolidation``)."""
    weight_by_confidence: bool = False
    """Training counts each consolidated pair with the posterior of the side its set's labels took (a pair decided
    2-1 weighs less than one decided 3-0; ``matcher.pair_weights``); false: every labeled pair counts once."""
    review_band: tuple[float, float] = (0.2, 0.8)
    """A pair whose consolidated posterior falls in this band, or whose labelers split, sends its set to review."""
    accuracy_floor: float = 0.8
    """Labelers whose accuracy (on gold, or as estimated by Dawid-Skene) is below this are flagged."""
    min_pairs_to_flag: int = MIN_LABELER_ANSWERS
    """A labeler is flagged only once this many of their pairs were measured (fewer say little)."""
    auto_label_target: float | None = None
    """Automated labeling: a generation labels the sets its model is sure of at this accuracy, validated on the
    human labels held out from training (``matcher.auto_label``); None: humans label every set."""
    auto_label_check_share: float = 0.1
    """Share of the machine-labelable sets sent to humans instead, to measure the machine's achieved accuracy (in
    "complete" mode, of the sets it labels whole and, apart, of those it could complete)."""
    auto_label_mode: str = "sets"
    """How the machine takes its share (with ``auto_label_target``): ``sets``, only whole sets it is sure of;
    ``complete``, also the sure records of the other sets, humans seeing only the rest (``matcher.auto_complete``,
    ``services.auto_completion``). "sets" stays the default: "complete" saved 20-22% of the human records on cora
    and dblp_acm (BENCHMARKS.md) but cost 0.002 F1 on the kin fixture, and a policy a transform already stored should
    not change what its labelers see."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["review_band"] = list(self.review_band)
        return data


DEFAULT = LabelingPolicy()
FIELDS = tuple(f.name for f in fields(LabelingPolicy))


def policy_of(stored: dict[str, Any] | None) -> LabelingPolicy:
    """The policy a transform stored (validated when it was stored); unknown keys of an older version ignored."""
    if not stored:
        return DEFAULT
    known = {k: v for k, v in stored.items() if k in FIELDS}
    if "review_band" in known:
        known["review_band"] = tuple(known["review_band"])
    return LabelingPolicy(**known)


def parse_policy(value: Any, field: str = "labeling_policy") -> dict[str, Any] | None:
    """The request's ``labeling_policy`` (null or an object of some of :data:`FIELDS`) as the JSON to store, every
    field filled in; a bad value is a 422 naming the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("labeling_policy must be an object or null", field=field)
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise ValidationError(f"unknown labeling_policy field(s) {', '.join(map(shown, unknown))}; known: "
                              f"{', '.join(FIELDS)}", field=f"{field}.{unknown[0]}")
    merged = {**DEFAULT.to_json(), **value}
    _check_int(merged["answers_per_set"], 1, MAX_ANSWERS, f"{field}.answers_per_set")
    _check_int(merged["min_pairs_to_flag"], 1, 10_000, f"{field}.min_pairs_to_flag")
    for flag in ("blind", "weight_by_confidence"):
        if not isinstance(merged[flag], bool):
            raise ValidationError(f"{flag} must be true or false", field=f"{field}.{flag}")
    _check_share(merged["gold_share"], 0.0, MAX_GOLD_SHARE, f"{field}.gold_share")
    _check_share(merged["accuracy_floor"], 0.0, 1.0, f"{field}.accuracy_floor")
    if merged["consolidation"] not in METHODS:
        raise ValidationError(f"consolidation must be one of {', '.join(METHODS)}, got "
                              f"{shown(merged['consolidation'])}", field=f"{field}.consolidation")
    band = merged["review_band"]
    if not isinstance(band, list | tuple) or len(band) != 2:
        raise ValidationError("review_band must be [low, high]", field=f"{field}.review_band")
    for bound in band:
        _check_share(bound, 0.0, 1.0, f"{field}.review_band")
    if band[0] > band[1]:
        raise ValidationError("review_band must be [low, high] with low <= high", field=f"{field}.review_band")
    merged["review_band"] = [float(b) for b in band]
    target = merged["auto_label_target"]
    if target is not None:
        _check_share(target, 0.0, 1.0, f"{field}.auto_label_target")
        if not 0.5 < target < 1.0:
            raise ValidationError("auto_label_target must be above 0.5 and below 1 (or null: no automated "
                                  f"labeling), got {shown(target)}", field=f"{field}.auto_label_target")
        merged["auto_label_target"] = float(target)
    if merged["auto_label_mode"] not in AUTO_LABEL_MODES:
        raise ValidationError(f"auto_label_mode must be one of {', '.join(AUTO_LABEL_MODES)}, got "
                              f"{shown(merged['auto_label_mode'])}", field=f"{field}.auto_label_mode")
    _check_share(merged["auto_label_check_share"], 0.0, 1.0, f"{field}.auto_label_check_share")
    merged["auto_label_check_share"] = float(merged["auto_label_check_share"])
    merged["gold_share"] = float(merged["gold_share"])
    merged["accuracy_floor"] = float(merged["accuracy_floor"])
    return merged


def _check_int(value: Any, low: int, high: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field.rsplit('.', 1)[-1]} must be an integer from {low} to {high}, got "
                              f"{shown(value)}", field=field)


def _check_share(value: Any, low: float, high: float, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"{field.rsplit('.', 1)[-1]} must be a number from {low} to {high}, got "
                              f"{shown(value)}", field=field)
