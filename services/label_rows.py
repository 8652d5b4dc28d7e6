"""Reading and writing a transform's label rows: decided labels (``labels``) and labelers' answers
(``label_answers``), as plain dicts, inside the caller's session."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Label, LabelAnswer, Transform


def lock_transform(session: Session, transform_id: str) -> Transform | None:
    """The transform, its row locked until the transaction ends (PostgreSQL: SELECT ... FOR UPDATE; SQLite
    serialises writers anyway): every writer of a transform's labels takes it first, because a consolidation
    rewrites the decided labels of every complete set, and two at once would collide on them."""
    return session.get(Transform, transform_id, with_for_update=True)


def decided_labels(session: Session, transform_id: str, set_ids: Iterable[str] | None = None
                   ) -> dict[str, dict[str, str]]:
    """set id -> record key -> decided label."""
    query = select(Label.labeling_set_id, Label.record_key, Label.label).where(Label.transform_id == transform_id)
    if set_ids is not None:
        query = query.where(Label.labeling_set_id.in_(list(set_ids)))
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for set_id, key, label in session.execute(query):
        out[set_id][key] = label
    return out


def answers_of(session: Session, transform_id: str, set_ids: Iterable[str] | None = None
               ) -> dict[str, dict[str, dict[str, str]]]:
    """set id -> labeler -> record key -> that labeler's answer."""
    query = select(LabelAnswer.labeling_set_id, LabelAnswer.labeler, LabelAnswer.record_key, LabelAnswer.label
                   ).where(LabelAnswer.transform_id == transform_id)
    if set_ids is not None:
        query = query.where(LabelAnswer.labeling_set_id.in_(list(set_ids)))
    out: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for set_id, labeler, key, label in session.execute(query.order_by(LabelAnswer.id)):
        out[set_id][labeler][key] = label
    return out


def replace_decided(session: Session, transform_id: str, set_id: str, labels: dict[str, str], who: str,
                    at: datetime) -> None:
    session.execute(delete(Label).where(Label.transform_id == transform_id, Label.labeling_set_id == set_id))
    session.add_all(Label(transform_id=transform_id, labeling_set_id=set_id, record_key=key, label=label,
                          labeled_by=who, labeled_at=at) for key, label in labels.items())
