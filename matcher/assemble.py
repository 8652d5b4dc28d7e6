"""Turn cluster labels into the output table and the run's statistics."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from matcher.cold_start import warning
from matcher.decision import Decision
from matcher.results import MatchResult

if TYPE_CHECKING:
    from matcher.fitted import FittedMatcher


def _sort_keys(keys: pd.Series) -> np.ndarray:
    """Order keys numerically when they are all integers ('9' < '10'), else as strings."""
    if keys.str.fullmatch(r"-?\d{1,18}").all():
        return keys.astype(np.int64).to_numpy()
    return keys.to_numpy(dtype=object)


def match_ids(keys: pd.Series, labels: np.ndarray) -> np.ndarray:
    """Each cluster is named by its smallest primary key: deterministic and stable under re-runs."""
    order = np.lexsort((_sort_keys(keys), labels))
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    representative = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    out = np.empty(len(keys), dtype=object)
    out[order] = keys.to_numpy(dtype=object)[order][representative]
    return out


def confidence(n: int, labels: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Clustered record: mean probability of its links inside its cluster. Lone record: 1 - its strongest
    link's probability (how sure we are it has no duplicate)."""
    same = labels[left] == labels[right]
    total = np.bincount(left[same], prob[same], n) + np.bincount(right[same], prob[same], n)
    count = np.bincount(left[same], minlength=n) + np.bincount(right[same], minlength=n)
    strongest = np.zeros(n)
    np.maximum.at(strongest, left[~same], prob[~same])
    np.maximum.at(strongest, right[~same], prob[~same])
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = total / count
    return np.round(np.where(count > 0, inside, 1.0 - strongest), 6)


def broken_constraints(matcher: FittedMatcher, labels: np.ndarray) -> int:
    """How many labeled pairs this clustering contradicts (must-links split, cannot-links joined)."""
    c = matcher.constraints()
    split = labels[c.must[0]] != labels[c.must[1]]
    joined = labels[c.cannot[0]] == labels[c.cannot[1]]
    return int(split.sum() + joined.sum())


def blocking_recall(matcher: FittedMatcher) -> float | None:
    """Share of the labeled matches blocking proposes (in linkage, of the cross-source ones: the only kind
    it ever proposes)."""
    lab = matcher.scored_kind(matcher.labeled_) if matcher.labeled_ is not None else None
    if lab is None or not lab.is_match.any():
        return None
    n = matcher.table_.n
    ids = np.minimum(lab.left, lab.right).astype(np.int64) * n + np.maximum(lab.left, lab.right)
    wanted, proposed = ids[lab.is_match], matcher.blocker_.pair_ids_  # sorted: a binary search, not a hash of 2M
    at = np.minimum(np.searchsorted(proposed, wanted), max(len(proposed) - 1, 0))
    return float((proposed[at] == wanted).mean()) if len(proposed) else 0.0


def assemble_result(matcher: FittedMatcher, decision: Decision, one: bool) -> MatchResult:
    labels, (left, right, prob) = matcher.cluster_labels(decision, one)
    keys = matcher.records_[matcher.settings_.primary_key]
    out = matcher.records_.copy()
    out["match_id"] = match_ids(keys, labels)
    out["match_confidence_score"] = confidence(matcher.table_.n, labels, left, right, prob)
    stats = run_stats(matcher, labels, decision)
    # the symptoms seen when the cold start was fitted (those of ``diagnose`` on its fit): a saved model applied to
    # other data, say a batch without a single duplicate, is no less reliable for linking none of its pairs
    symptoms = list(matcher.cold_start_choice_.get("symptoms", [])) if matcher.classifier_ is None else []
    stats["cold_start_warning"], stats["cold_start_evidence"] = warning(symptoms), symptoms
    stats["cold_start_model"] = matcher.cold_start_choice_
    if matcher.settings_.extra_comparators:  # absent without them: the statistics of a run read as before
        stats["extra_comparators"] = {e.name: {"feature": e.feature, "used": matcher.classifier_ is not None}
                                      for e in matcher.settings_.extra_comparators}
    stats["one_to_one"] = bool(one)
    stats["one_to_one_reason"] = matcher.link_mode_.reason if one == matcher.links_one_to_one else \
        f"one-to-one {'on' if one else 'off'}: asked for this run"
    if matcher.labeled_ is not None:
        model_only = labels if not decision.enforce_labels else \
            matcher.cluster_labels(replace(decision, enforce_labels=False), one)[0]
        stats["labels_broken_by_model"] = broken_constraints(matcher, model_only)
        stats["labels_broken_in_output"] = broken_constraints(matcher, labels)
    return MatchResult(records=out, stats=stats)


def run_stats(matcher: FittedMatcher, labels: np.ndarray, decision: Decision) -> dict[str, Any]:
    sizes = np.bincount(np.unique(labels, return_inverse=True)[1])
    fs = matcher.fs_
    return {
        "records": int(matcher.table_.n),
        "candidate_pairs": int(matcher.blocker_.n_pairs_),
        "blocking_rules": [" & ".join(r.keys) for r in matcher.blocker_.rules_ if r.used],
        # of them, the rules past the pair budget that add only pairs agreeing on more columns (matcher.blocking)
        "blocking_rules_supported": [" & ".join(r.keys) for r in matcher.blocker_.rules_ if r.supported],
        "tfidf_neighbour_pairs": int(matcher.blocker_.neighbour_pairs_),
        # pairs for the records no rule reached, from their own smallest blocks (matcher.isolated)
        "isolated_record_pairs": int(getattr(matcher.blocker_, "isolated_pairs_", 0)),
        # rules whose blocks mostly hold different identities on the other columns' evidence (matcher.group_keys)
        "group_keys": [g.to_dict() for g in getattr(matcher, "group_keys_", [])],
        "blocking_recall": blocking_recall(matcher),
        "model": "classifier" if matcher.classifier_ is not None else "fellegi_sunter",
        "em_iterations": int(fs.n_iter_),
        "em_match_share": round(float(fs.lambda_), 6),
        "threshold": decision.threshold(matcher.balanced_threshold_),
        "clusters": int((sizes > 1).sum()),
        "records_in_clusters": int(sizes[sizes > 1].sum()),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        # a cap binds only when the user set one; it is reported when a cluster reached it
        "max_cluster_size": decision.max_cluster_size,
        "max_cluster_size_reached": bool(decision.max_cluster_size is not None and len(sizes)
                                         and sizes.max() >= decision.max_cluster_size),
        "placeholder_values": dict(getattr(matcher.table_, "placeholders", {})),
        "column_types": {c.name: c.type for c in matcher.settings_.columns},
    }
