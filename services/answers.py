"""Labelers' answers and a set's decided labels: who answered what, and how a set's labels get decided.

A set's *decided* labels (``labels`` rows) are what training reads. How they are decided follows the transform's
labeling policy (``services.labeling_policy``):

* one answer per set (the default): the latest answer decides, as a single labeler's save always did;
* several: each labeler's answer is kept (``label_answers``, never overwritten by another labeler's); once a set
  has the answers it needs, the transform's answers are consolidated (``services.consolidating``) and the set's
  labels are the consolidated groups; a set with uncertain pairs goes to review;
* a reviewer's decision overrides both and stays until the next review;
* a gold set's labels are fixed by an admin; answers to it only measure the labeler.

Sets nobody proposed (ad-hoc sets a user labeled, sets known from an imported file) are decided by their latest
save. A set the machine completes (``services.auto_completion``) gets its machine records once it is decided.
Every change is appended to the audit trail (``services.label_history``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from matcher.errors import shown
from services import auto_completion, label_history
from services.consolidating import reconsolidate
from services.errors import Conflict, Forbidden, NotFound, ValidationError
from services.label_rows import answers_of, decided_labels, lock_transform, replace_decided
from services.labeling_policy import policy_of
from storage.db import Database
from storage.models import LabelAnswer, LabelingSet, LabelLease, Transform, utcnow

ROLES_WHO_DECIDE = ("admin", "reviewer")


@dataclass(frozen=True)
class Caller:
    """Who is asking, with which role, from where (``ui`` or ``api``: the audit trail's source)."""

    name: str
    role: str
    source: str = "api"

    @property
    def decides(self) -> bool:
        """Admins and reviewers see every answer, gold marks and the model's reasons; labelers see their own."""
        return self.role in ROLES_WHO_DECIDE


SYSTEM = Caller("system", "admin", "api")


def _replace_answer(session: Session, transform_id: str, set_id: str, labeler: str, labels: dict[str, str],
                    at: datetime) -> None:
    session.execute(delete(LabelAnswer).where(LabelAnswer.transform_id == transform_id,
                                              LabelAnswer.labeling_set_id == set_id,
                                              LabelAnswer.labeler == labeler))
    session.add_all(LabelAnswer(transform_id=transform_id, labeling_set_id=set_id, labeler=labeler, record_key=key,
                                label=label, answered_at=at) for key, label in labels.items())


def submit(db: Database, transform_id: str, set_id: str, chosen: dict[str, str], caller: Caller) -> None:
    """Store ``caller``'s answer to the set and decide the set's labels as the policy says (module docstring)."""
    now = utcnow()
    try:
        with db.session() as session:
            transform = _transform(session, transform_id)
            policy = policy_of(transform.labeling_policy)
            proposal = _proposal(session, transform_id, set_id)
            mine = answers_of(session, transform_id, [set_id])[set_id].get(caller.name, {})
            _replace_answer(session, transform_id, set_id, caller.name, chosen, now)
            session.execute(delete(LabelLease).where(LabelLease.transform_id == transform_id,
                                                     LabelLease.labeling_set_id == set_id,
                                                     LabelLease.labeler == caller.name))  # the slot is used
            if proposal is not None and proposal.gold_labels is not None:
                label_history.record(session, transform_id, set_id, caller.name, caller.source, "answer",
                                     mine, chosen, at=now)
            elif proposal is None or policy.answers_per_set == 1:
                before = decided_labels(session, transform_id, [set_id])[set_id]
                replace_decided(session, transform_id, set_id, chosen, caller.name, now)
                label_history.record(session, transform_id, set_id, caller.name, caller.source, "label",
                                     before, chosen, at=now)
                auto_completion.complete_decided(session, transform_id, [set_id], now)
            else:
                label_history.record(session, transform_id, set_id, caller.name, caller.source, "answer",
                                     mine, chosen, at=now)
                session.flush()
                reconsolidate(session, transform_id, policy, now)
    except IntegrityError as exc:  # another save of this set (or the transform's deletion) won the race
        raise Conflict(f"labeling set {shown(set_id)} changed while saving; reload it and save again") from exc


def review(db: Database, transform_id: str, set_id: str, chosen: dict[str, str], caller: Caller,
           note: str | None = None) -> None:
    """A reviewer decides the set's labels; the decision stands until the next review (answers stay as given)."""
    if not caller.decides:
        raise Forbidden(f"user {caller.name!r} is a labeler: only reviewers and admins decide a set")
    now = utcnow()
    try:
        with db.session() as session:
            _transform(session, transform_id)
            proposal = _proposal(session, transform_id, set_id)
            if proposal is None:
                raise NotFound(f"labeling set {shown(set_id)} was not proposed for transform {shown(transform_id)}")
            if proposal.gold_labels is not None:
                raise Conflict(f"labeling set {shown(set_id)} is a gold set: unmark it as gold to change its labels")
            before = decided_labels(session, transform_id, [set_id])[set_id]
            replace_decided(session, transform_id, set_id, chosen, caller.name, now)
            proposal.review_state = "decided"
            label_history.record(session, transform_id, set_id, caller.name, caller.source, "review", before,
                                 chosen, note=note, at=now)
            auto_completion.complete_decided(session, transform_id, [set_id], now)
    except IntegrityError as exc:
        raise Conflict(f"labeling set {shown(set_id)} changed while saving; reload it and save again") from exc


def set_gold(db: Database, transform_id: str, set_id: str, gold: bool, caller: Caller) -> None:
    """Mark a set whose labels are decided as gold (its labels frozen as the answer key), or unmark it."""
    now = utcnow()
    with db.session() as session:
        _transform(session, transform_id)
        decided = decided_labels(session, transform_id, [set_id])[set_id]
        proposal = _proposal(session, transform_id, set_id)
        if proposal is None:
            if not decided:
                raise NotFound(f"labeling set {shown(set_id)} not found for transform {shown(transform_id)}")
            proposal = LabelingSet(transform_id=transform_id, set_id=set_id, record_keys=sorted(decided),
                                   reason={"source": "labels"})
            session.add(proposal)
        if gold and proposal.gold_labels is None:
            if len(decided) < 2:
                raise ValidationError(f"labeling set {shown(set_id)} has {len(decided)} labeled record(s): label "
                                      f"at least 2 before marking it gold", field="gold")
            proposal.gold_labels = dict(decided)
            label_history.record(session, transform_id, set_id, caller.name, caller.source, "gold", {}, decided,
                                 at=now)
        elif not gold and proposal.gold_labels is not None:
            label_history.record(session, transform_id, set_id, caller.name, caller.source, "ungold",
                                 dict(proposal.gold_labels), {}, at=now)
            proposal.gold_labels = None


def _transform(session: Session, transform_id: str) -> Transform:
    transform = lock_transform(session, transform_id)
    if transform is None:
        raise NotFound(f"transform {transform_id} not found")
    return transform


def _proposal(session: Session, transform_id: str, set_id: str) -> LabelingSet | None:
    return session.scalar(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                    LabelingSet.set_id == set_id))

