"""Who labels what next: a labeler's queue of proposed sets, with gold sets mixed in, and the reviewers' queue.

A labeler is handed a set that still needs answers and that they have not answered, the set closest to done first
(so sets complete and reach training), then the oldest. Gold sets are mixed in at the policy's share, unmarked.
A hand-out is a lease (``label_leases``): the set is reserved for that labeler for :data:`LEASE` or until they
answer, so the queue does not hand a set's last wanted answer to two labelers at once; asking again returns the
set one holds. Hand-outs take the transform's row lock, as answers do, so two requests cannot both take a slot.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.errors import NotFound
from services.label_rows import answers_of, decided_labels, lock_transform
from services.labeling_policy import LabelingPolicy, policy_of
from storage.db import Database
from storage.models import LabelingSet, LabelLease, Transform, as_utc, utcnow

LEASE = timedelta(minutes=30)


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
    now = utcnow()
    with db.session() as session:
        transform = lock_transform(session, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        policy = policy_of(transform.labeling_policy)
        proposals = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)
                                         .order_by(LabelingSet.created_at, LabelingSet.id)))
        answers = answers_of(session, transform_id)
        decided = decided_labels(session, transform_id)
        leases = _active_leases(session, transform_id, now)
        open_sets = _open_sets(proposals, answers, decided, labeler, policy, leases)
        gold = [p.set_id for p in proposals if p.gold_labels is not None and labeler not in answers.get(p.set_id, {})]
        held = [s for s in open_sets if labeler in leases.get(s, set())]
        pick = None
        if held:
            pick = held[0]
        elif gold and _gold_turn(answers, {p.set_id for p in proposals if p.gold_labels is not None}, labeler,
                                 policy):
            pick = sorted(gold, key=lambda s: zlib.crc32(f"{labeler}|{s}".encode()))[0]
        elif open_sets:
            pick = open_sets[0]
        if pick is not None:
            session.execute(delete(LabelLease).where(LabelLease.transform_id == transform_id,
                                                     LabelLease.labeling_set_id == pick, LabelLease.labeler == labeler))
            session.add(LabelLease(transform_id=transform_id, labeling_set_id=pick, labeler=labeler,
                                   expires_at=now + LEASE))
            return NextSet(pick, len(open_sets), "")
    if any(leases.get(p.set_id) for p in proposals):
        return NextSet(None, 0, "the sets still open are being answered by other labelers: ask again in a few "
                                "minutes")
    message = ("no proposed set needs your answer: generate labeling sets (LABELING_SET_GENERATION) for more"
               if proposals else "no labeling sets yet: an admin generates them (LABELING_SET_GENERATION)")
    return NextSet(None, 0, message)


def _active_leases(session: Session, transform_id: str, now: datetime) -> dict[str, set[str]]:
    """set id -> labelers holding it; expired leases are deleted on the way."""
    out: dict[str, set[str]] = {}
    for lease in session.scalars(select(LabelLease).where(LabelLease.transform_id == transform_id)):
        if as_utc(lease.expires_at) <= now:
            session.delete(lease)
        else:
            out.setdefault(lease.labeling_set_id, set()).add(lease.labeler)
    return out


def _open_sets(proposals: list[LabelingSet], answers: dict, decided: dict, labeler: str,
               policy: LabelingPolicy, leases: dict[str, set[str]]) -> list[str]:
    """Non-gold sets this labeler has not answered that still need answers not promised to another labeler (by a
    lease), closest to done first."""
    ranked = []
    for order, p in enumerate(proposals):
        by = answers.get(p.set_id, {})
        if p.gold_labels is not None or labeler in by or p.review_state == "decided":
            continue
        promised = len(leases.get(p.set_id, set()) - {labeler})
        if policy.answers_per_set == 1:
            if p.set_id in decided or promised:
                continue
        elif len(by) + promised >= policy.answers_per_set or (p.set_id in decided and not by):
            continue  # complete or promised, or decided without answers (imported labels)
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
