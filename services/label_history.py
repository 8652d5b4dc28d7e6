"""The labels' audit trail: every change of an answer or of a set's decided labels, appended, never rewritten.

An event says who (a user's name, or ``machine`` for a consolidation), when, from where (``source``), what
(``action``) and the labels before and after (record key -> label; absent = unlabeled). Writers call
:func:`record` inside their own transaction, so a change and its event commit together or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.csv_safety import neutralise
from services.errors import NotFound, ValidationError
from storage.db import Database
from storage.models import LabelEvent, Transform, iso_utc, utcnow

SOURCES = ("ui", "api", "csv_import", "consolidation", "machine", "erasure")
ACTIONS = ("label", "answer", "decide", "review", "gold", "ungold", "import", "auto_label", "erase")
MACHINE = "machine"
MAX_PAGE = 1000
MAX_OFFSET = 10**9  # a database integer holds it (a larger offset overflowed PostgreSQL's and SQLite's bigint)
CSV_COLUMNS = ["id", "at", "labeling_set_id", "actor", "source", "action", "before", "after", "note"]


@dataclass(frozen=True)
class HistoryPage:
    transform_id: str
    total: int
    offset: int
    limit: int
    events: list[LabelEvent]


def record(session: Session, transform_id: str, set_id: str, actor: str, source: str, action: str,
           before: dict[str, str], after: dict[str, str], note: str | None = None,
           at: datetime | None = None) -> None:
    """Append one event (in the caller's transaction); a change that changes nothing is not an event."""
    if before == after and action in ("label", "answer", "decide", "import", "gold"):
        return
    assert source in SOURCES and action in ACTIONS, (source, action)
    session.add(LabelEvent(transform_id=transform_id, labeling_set_id=set_id, actor=actor, source=source,
                           action=action, at=at or utcnow(), before=dict(before), after=dict(after), note=note))


def history(db: Database, transform_id: str, set_id: str | None = None, offset: int = 0,
            limit: int = 100) -> HistoryPage:
    """The transform's events (or one set's), oldest first."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationError(f"offset must be 0 to {MAX_OFFSET}", field="offset")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1 to {MAX_PAGE}", field="limit")
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        where = [LabelEvent.transform_id == transform_id]
        if set_id is not None:
            where.append(LabelEvent.labeling_set_id == set_id)
        total = int(session.scalar(select(func.count()).select_from(LabelEvent).where(*where)) or 0)
        events = list(session.scalars(select(LabelEvent).where(*where).order_by(LabelEvent.id)
                                      .offset(offset).limit(limit)))
    return HistoryPage(transform_id, total, offset, limit, events)


def history_csv(db: Database, transform_id: str) -> str:
    """Every event of the transform as CSV (labels as JSON objects); text cells neutralised for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    offset = 0
    while True:
        page = history(db, transform_id, offset=offset, limit=MAX_PAGE)
        for event in page.events:
            row = [event.id, iso_utc(event.at), event.labeling_set_id, event.actor, event.source, event.action,
                   json.dumps(event.before, sort_keys=True), json.dumps(event.after, sort_keys=True),
                   event.note or ""]
            writer.writerow([neutralise(c) if isinstance(c, str) else c for c in row])
        offset += len(page.events)
        if not page.events or offset >= page.total:
            return out.getvalue()


