"""From scored candidates to clusters for one decision (``Matcher.cluster_labels``): the candidate edges with
labels enforced, components on the strong ones split into linkage pieces, the pairs a component holds but blocking
never proposed completed and scored, then average-linkage clustering (or one-to-one links in linkage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matcher.cluster import Constraints, cluster, components, linkage_pieces, missing_component_pairs, one_to_one
from matcher.decision import Decision
from matcher.results import LabeledPairs

if TYPE_CHECKING:
    from matcher.fitted import FittedMatcher


def edges(matcher: FittedMatcher, enforce: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs and probabilities; with enforce, labeled pairs are pinned to 1 or 0."""
    left, right, prob = matcher.candidates_.left, matcher.candidates_.right, matcher.prob_.copy()
    lab = matcher.labeled_
    if enforce and lab is not None:
        n = matcher.table_.n
        ids = np.minimum(left, right).astype(np.int64) * n + np.maximum(left, right)
        lab_ids = np.minimum(lab.left, lab.right).astype(np.int64) * n + np.maximum(lab.left, lab.right)
        pos = np.searchsorted(ids, lab_ids)
        found = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == lab_ids)
        prob[pos[found]] = lab.is_match[found].astype(float)
    return left, right, prob


def label_constraints(lab: LabeledPairs | None) -> Constraints:
    """Must-links for labeled matches, cannot-links for labeled non-matches."""
    if lab is None:
        return Constraints()
    m = lab.is_match
    return Constraints(must=(lab.left[m], lab.right[m]), cannot=(lab.left[~m], lab.right[~m]))


def cluster_labels(matcher: FittedMatcher, decision: Decision, one: bool) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Cluster per record plus the edges it was decided on (candidates + completed pairs), linking
    one-to-one when ``one``."""
    enforce = decision.enforce_labels
    left, right, prob = edges(matcher, enforce)
    constraints = label_constraints(matcher.labeled_) if enforce else None
    pinned = getattr(matcher, "pinned_", None)  # groups of rows kept together (``Subset.pinned``)
    if pinned is not None:
        constraints = pinned_constraints(constraints or Constraints(), pinned)
    n, t = matcher.table_.n, decision.threshold(matcher.balanced_threshold_)
    if one:
        return one_to_one(n, left, right, prob, t, constraints), (left, right, prob)
    strong = prob >= t
    comp = linkage_pieces(components(n, left[strong], right[strong]), left, right, prob, t)
    ml, mr, drawn = missing_component_pairs(comp, matcher.blocker_.pair_ids_, matcher.settings_.seed)
    if pinned is not None:  # a pinned group's inside is never scored again
        outside = (pinned[ml] != pinned[mr]) | (pinned[ml] < 0)
        ml, mr, drawn = ml[outside], mr[outside], drawn[outside]
    drawn = np.r_[np.zeros(len(left), dtype=bool), drawn]
    if len(ml):
        left, right = np.r_[left, ml], np.r_[right, mr]
        prob = np.r_[prob, matcher.score_pairs(ml, mr)]
    labels = cluster(n, left, right, prob, t, constraints, decision.max_cluster_size, drawn)
    return labels, (left, right, prob)


def pinned_constraints(constraints: Constraints, pinned: np.ndarray) -> Constraints:
    """``constraints`` plus must-links chaining the rows of each pinned group (-1: not pinned)."""
    rows = np.flatnonzero(pinned >= 0)
    rows = rows[np.argsort(pinned[rows], kind="stable")]
    same = pinned[rows[1:]] == pinned[rows[:-1]]
    must = (np.r_[constraints.must[0], rows[:-1][same]], np.r_[constraints.must[1], rows[1:][same]])
    return Constraints(must=must, cannot=constraints.cannot)
