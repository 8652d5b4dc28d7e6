"""Whether two-table linkage links each record to at most one record: given by the user, or read off the data.

One-to-one linkage (each record of one table matches at most one of the other) is the assumption that lifts
linkage of duplicate-free tables most (DBLP-ACM 0.950 -> 0.989 F1 without labels), and a new user does not
know to ask for it. When the settings leave it open (``one_to_one=None``) it is decided from the evidence:

* labels, once they link at least ``MIN_LABELED_LINKED`` records across the sources: the share of those
  records that the labels give more than one link (two matches in the other table, or a match in their own);
* before that, the cold-start model: the share of records with a link above 0.5 that have two or more.

In one-to-one data only errors make a second link, so the assumption is taken when at most one linked record
in ten (``ONE_TO_ONE_MAX_SHARE``) has more than one. Deduplication (no source column) never links one-to-one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ONE_TO_ONE_MAX_SHARE = 0.1
MIN_LABELED_LINKED = 10


@dataclass(frozen=True)
class LinkEvidence:
    """Records linked across the sources and how many of them have more than one link."""

    linked: int
    multi: int

    @property
    def share(self) -> float:
        return self.multi / self.linked if self.linked else 0.0


@dataclass(frozen=True)
class LinkMode:
    one_to_one: bool
    reason: str
    evidence: dict[str, Any]


def model_evidence(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> LinkEvidence:
    """Evidence of the cold start's cross-source candidates: links are pairs above 0.5."""
    strong = prob >= 0.5
    degree = np.bincount(np.r_[left[strong], right[strong]], minlength=n)
    return LinkEvidence(int((degree >= 1).sum()), int((degree >= 2).sum()))


def label_evidence(n: int, source: np.ndarray, left: np.ndarray, right: np.ndarray,
                   is_match: np.ndarray) -> LinkEvidence:
    """Evidence of labeled matches: records matched across the sources, and of them those with two such
    matches or a match in their own source."""
    cross = is_match & (source[left] != source[right])
    within = is_match & (source[left] == source[right])
    degree = np.bincount(np.r_[left[cross], right[cross]], minlength=n)
    own = np.zeros(n, dtype=bool)
    own[np.r_[left[within], right[within]]] = True
    linked = degree >= 1
    return LinkEvidence(int(linked.sum()), int((linked & ((degree >= 2) | own)).sum()))


def decide(given: bool | None, linkage: bool, model: LinkEvidence | None,
           labels: LinkEvidence | None) -> LinkMode:
    """The link mode and why: the user's choice when given, else the labels' evidence when there is enough,
    else the cold-start model's."""
    if not linkage:
        return LinkMode(False, "deduplication: one table, no one-to-one links", {})
    if given is not None:
        return LinkMode(given, f"one-to-one {'on' if given else 'off'}: set by the user", {})
    use, origin = (labels, "labels") if labels is not None and labels.linked >= MIN_LABELED_LINKED else \
        (model, "the unsupervised model")
    if use is None or use.linked == 0:
        return LinkMode(False, "one-to-one off: nothing is linked yet to judge by", {})
    on = use.share <= ONE_TO_ONE_MAX_SHARE
    reason = (f"one-to-one {'on' if on else 'off'}: by {origin}, {use.multi} of {use.linked} linked records "
              f"({use.share:.1%}) have more than one link ({'at most' if on else 'over'} "
              f"{ONE_TO_ONE_MAX_SHARE:.0%} means duplicate-free sources)")
    return LinkMode(on, reason, {"decided_by": origin, **asdict(use), "share": round(use.share, 4)})
