"""Who labels what next: a labeler's queue of proposed sets, with gold sets mixed in, and the reviewers' queue.

A labeler is handed a set that still needs answers and that they have not answered, the set closest to done first
(so sets complete and reach training), then the oldest. Gold sets are mixed in at the policy's share, unmarked.
There is no lease: two labelers asking at the same moment may both get the set that needed one more answer; the
extra answer is kept and counted like the others.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from sqlalchemy import select

from services.errors import NotFound
from services.label_rows import answers_of, decided_labels
from services.labeling_policy import LabelingPolicy, policy_of
from storage.db import Database
from storage.models import LabelingSet, Transform


@dataclass(frozen=True)
class NextSet:
    set_id: str | None
    remaining: int
    """Sets still needing an answer from this labeler (gold sets not counted)."""
    message: str


@dataclass(frozen=True)
class ReviewItem:
    set_id: str
    size: int
    answers: int
    uncertain_pairs: int
    method: str | None


def next_set(db: Database, transform_id: str, labeler: str) -> NextSet:
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        policy = policy_of(transform.labeling_policy)
        proposals = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)
                                         .order_by(LabelingSet.created_at, LabelingSet.id)))
        answers = answers_of(session, transform_id)
        decided = decided_labels(session, transform_id)
    open_sets = _open_sets(proposals, answers, decided, labeler, policy)
    gold = [p.set_id for p in proposals if p.gold_labels is not None and labeler not in answers.get(p.set_id, {})]
    if gold and _gold_turn(answers, {p.set_id for p in proposals if p.gold_labels is not None}, labeler, policy):
        pick = sorted(gold, key=lambda s: zlib.crc32(f"{labeler}|{s}".encode()))[0]
        return NextSet(pick, len(open_sets), "")
    if open_sets:
        return NextSet(open_sets[0], len(open_sets), "")
    message = ("no proposed set needs your answer: generate labeling sets (GENERATE_LABELS) for more"
               if proposals else "no labeling sets yet: an admin generates them (GENERATE_LABELS)")
    return NextSet(None, 0, message)


def _open_sets(proposals: list[LabelingSet], answers: dict, decided: dict, labeler: str,
               policy: LabelingPolicy) -> list[str]:
    """Non-gold sets this labeler has not answered that still need answers, closest to done first."""
    ranked = []
    for order, p in enumerate(proposals):
        by = answers.get(p.set_id, {})
        if p.gold_labels is not None or labeler in by or p.review_state == "decided":
            continue
        if policy.answers_per_set == 1:
            if p.set_id in decided:
                continue
        elif len(by) >= policy.answers_per_set or (p.set_id in decided and not by):
            continue  # complete, or decided without answers (imported labels)
        ranked.append((-len(by), order, p.set_id))
    return [s for _, _, s in sorted(ranked)]


def _gold_turn(answers: dict, gold: set[str], labeler: str, policy: LabelingPolicy) -> bool:
    """Whether this hand-out is a gold set: the labeler's share of gold answers so far is below the policy's."""
    if policy.gold_share <= 0:
        return False
    mine = [s for s, by in answers.items() if labeler in by]
    gold_done = sum(s in gold for s in mine)
    return gold_done < policy.gold_share * (len(mine) + 1)


def review_queue(db: Database, transform_id: str) -> list[ReviewItem]:
    """Sets whose consolidated answer is uncertain, least certain (most doubtful pairs) first."""
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        needed = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                                LabelingSet.review_state == "needed")
                                      .order_by(LabelingSet.created_at, LabelingSet.id)))
    items = [ReviewItem(p.set_id, len(p.record_keys), int((p.consolidation or {}).get("answers", 0)),
                        len((p.consolidation or {}).get("uncertain_pairs", [])), (p.consolidation or {}).get("method"))
             for p in needed]
    return sorted(items, key=lambda i: -i.uncertain_pairs)
