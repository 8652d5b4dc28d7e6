"""Labels: a labels file imported by a task run (validated here first), or one labeling set at a time from the UI.

Both paths end in the same ``labels`` table; the UI replaces a whole set in one transaction, stamped with who
labeled it and when.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from matcher.active import SET_NAMESPACE
from matcher.errors import MatcherError, shown
from matcher.labels import MAX_LABEL_LENGTH, read_labels
from services import run_types
from services import validation as v
from services.config import Config
from services.datasets import read_column, read_rows
from services.errors import Conflict, NotFound, ServiceError, ValidationError
from services.rows import get_or_404
from services.task_runs import Dispatch, start_run
from services.uploads import save_upload, user_message
from storage.db import Database
from storage.models import Label, LabelingSet, TaskRun, Transform, utcnow

MAX_ADHOC = 500  # records in one ad-hoc set (a FIND_MATCHES cluster reviewed on the Matches page)


@dataclass(frozen=True)
class SetView:
    set_id: str
    task_run_id: str | None
    reason: dict[str, Any]
    record_keys: list[str]
    records: list[dict[str, Any]]
    labels: list[Label]
    created_at: datetime | None = None
    suggested_groups: list[list[str]] | None = None  # the model's guess at the set's entities (None: no guess)


@dataclass(frozen=True)
class SetSummary:
    set_id: str
    task_run_id: str | None = None
    size: int = 0
    labeled: int = 0
    created_at: datetime | None = None


def start_import(config: Config, db: Database, transform_id: str, filename: str, stream: IO[bytes],
                 replace: bool, user_id: str | None, dispatch: Dispatch) -> TaskRun:
    """Validate the whole file now (a bad file is a 4xx and nothing is written), then start IMPORT_LABELS."""
    transform = _transform(db, transform_id)
    path = save_upload(config, filename, stream, "labels")
    try:
        keys = [k for k in read_column(config, transform.dataset_id, transform.primary_key) if k is not None]
        try:
            read_labels(path, transform.primary_key, known_keys=keys)
        except MatcherError as exc:
            raise user_message(exc, path, filename) from None
        params = {"path": str(path), "replace": replace}
        return start_run(config, db, transform_id, run_types.IMPORT_LABELS.name, params, user_id, dispatch)
    except (MatcherError, ServiceError, OSError):  # ServiceUnavailable too: the run is FAILED, nothing reads it
        path.unlink(missing_ok=True)
        raise


def _transform(db: Database, transform_id: str) -> Transform:
    return get_or_404(db, Transform, transform_id, "transform")


def get_set(config: Config, db: Database, transform_id: str, set_id: str) -> SetView:
    """A set's records (in the set's order), current labels and why the engine chose it.

    A set known only from imported labels (no proposal row) is shown with its labeled records.
    """
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        proposal = session.scalar(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                            LabelingSet.set_id == set_id))
        labels = list(session.scalars(select(Label).where(Label.transform_id == transform_id,
                                                          Label.labeling_set_id == set_id).order_by(Label.id)))
    if proposal is None and not labels:
        raise NotFound(f"labeling set {shown(set_id)} not found for transform {shown(transform_id)}")
    keys = [str(k) for k in proposal.record_keys] if proposal else []
    keys += [label.record_key for label in labels if label.record_key not in keys]
    rows = read_rows(config, transform.dataset_id, transform.primary_key, keys)
    reason = dict(proposal.reason or {}) if proposal else {}
    return SetView(set_id=set_id, task_run_id=proposal.task_run_id if proposal else None,
                   reason=reason, record_keys=keys,
                   records=[rows.get(k, {transform.primary_key: k}) for k in keys], labels=labels,
                   created_at=proposal.created_at if proposal else None,
                   suggested_groups=suggested_groups(reason.pop("suggested_groups", None), keys))


def suggested_groups(stored: Any, keys: list[str]) -> list[list[str]] | None:
    """The groups the generation stored with the set (``matcher.active.suggested_groups``), covering every record of
    the set exactly once: a key stored twice or no longer in the set is dropped, a record the model left out (one
    labeled later, outside the proposal) is a group of its own. None for a set without a guess (generated before
    the guess was stored, made by a user, or known from imported labels)."""
    if not isinstance(stored, list):
        return None
    wanted, seen, groups = set(keys), set(), []
    for group in stored:
        members = [k for k in group if isinstance(k, str) and k in wanted and k not in seen] \
            if isinstance(group, list) else []
        seen.update(members)
        if members:
            groups.append(members)
    return groups + [[k] for k in keys if k not in seen]


def list_sets(db: Database, transform_id: str) -> list[SetSummary]:
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        proposals = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)
                                         .order_by(LabelingSet.created_at, LabelingSet.id)))
        counted = session.execute(select(Label.labeling_set_id, func.count()).where(
            Label.transform_id == transform_id).group_by(Label.labeling_set_id))
        labeled = {set_id: int(n) for set_id, n in counted}
    sets = [SetSummary(p.set_id, p.task_run_id, len(p.record_keys), labeled.pop(p.set_id, 0), p.created_at)
            for p in proposals]
    return sets + [SetSummary(set_id, None, n, n) for set_id, n in sorted(labeled.items())]


def put_set_labels(config: Config, db: Database, transform_id: str, set_id: str, body: Any,
                   user_name: str) -> SetView:
    """Replace the set's labels with ``body['labels']`` (empty label = unlabeled) in one transaction."""
    body = v.require_object(body)
    v.only_fields(body, ("labels",))
    items = body.get("labels")
    if not isinstance(items, list):
        raise ValidationError("labels must be a list of {record_key, label} objects", field="labels")
    view = get_set(config, db, transform_id, set_id)
    chosen = _parse_labels(items, set(view.record_keys), set_id)
    now = utcnow()
    try:
        with db.session() as session:
            session.execute(delete(Label).where(Label.transform_id == transform_id,
                                                Label.labeling_set_id == set_id))
            session.add_all(Label(transform_id=transform_id, labeling_set_id=set_id, record_key=key, label=label,
                                  labeled_by=user_name, labeled_at=now) for key, label in chosen)
    except IntegrityError as exc:  # another save of this set (or the transform's deletion) won the race
        raise Conflict(f"labeling set {shown(set_id)} changed while saving; reload it and save again") from exc
    return get_set(config, db, transform_id, set_id)


def create_adhoc_set(config: Config, db: Database, transform_id: str, body: Any,
                     user_name: str) -> tuple[SetView, bool]:
    """A labeling set the user made (e.g. a reviewed match cluster): ``{records: [keys], labels: [labels]}``.

    The set id is the uuid5 of the sorted keys (as the engine names its sets), so the same records always land in
    the same set: posting them again replaces that set's labels. Returns the set and whether its row is new.
    """
    body = v.require_object(body)
    v.only_fields(body, ("records", "labels"))
    keys, values = body.get("records"), body.get("labels")
    if not isinstance(keys, list) or not 2 <= len(keys) <= MAX_ADHOC or not all(isinstance(k, str) and k
                                                                                for k in keys):
        raise ValidationError(f"records must be a list of 2 to {MAX_ADHOC} record keys", field="records")
    if len(set(keys)) != len(keys):
        raise ValidationError("records must not repeat a key", field="records")
    if not isinstance(values, list) or len(values) != len(keys):
        raise ValidationError("labels must be a list with one label per record", field="labels")
    for i, label in enumerate(values):
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_LENGTH:
            raise ValidationError(f"label must be a non-empty string of at most {MAX_LABEL_LENGTH} characters",
                                  field=f"labels[{i}]")
    transform = _transform(db, transform_id)
    found = read_rows(config, transform.dataset_id, transform.primary_key, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise ValidationError(f"record(s) not in the dataset: {', '.join(repr(k) for k in missing[:5])}",
                              field="records")
    set_id = str(uuid.uuid5(SET_NAMESPACE, "|".join(sorted(keys))))
    now = utcnow()
    try:
        with db.session() as session:
            existing = session.scalar(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                                LabelingSet.set_id == set_id))
            if existing is None:
                session.add(LabelingSet(transform_id=transform_id, set_id=set_id, record_keys=list(keys),
                                        reason={"source": "user", "labeled_by": user_name}))
            session.execute(delete(Label).where(Label.transform_id == transform_id,
                                                Label.labeling_set_id == set_id))
            session.add_all(Label(transform_id=transform_id, labeling_set_id=set_id, record_key=key,
                                  label=label.strip(), labeled_by=user_name, labeled_at=now)
                            for key, label in zip(keys, values, strict=True))
    except IntegrityError as exc:  # a concurrent save of the same records (or the transform's deletion)
        raise Conflict(f"labeling set {shown(set_id)} changed while saving; try again") from exc
    return get_set(config, db, transform_id, set_id), existing is None


def _parse_labels(items: list[Any], allowed: set[str], set_id: str) -> list[tuple[str, str]]:
    chosen: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"labels[{i}]"
        item = v.require_object(item, where)
        v.only_fields(item, ("record_key", "label"))
        key, label = item.get("record_key"), item.get("label")
        if not isinstance(key, str) or key not in allowed:
            raise ValidationError(f"record {shown(key)} is not in labeling set {shown(set_id)}",
                                  field=f"{where}.record_key")
        if key in seen:
            raise ValidationError(f"record {shown(key)} is labeled twice", field=f"{where}.record_key")
        seen.add(key)
        if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH):
            raise ValidationError(f"label must be a string of at most {MAX_LABEL_LENGTH} characters or null",
                                  field=f"{where}.label")
        if label and label.strip():
            chosen.append((key, label.strip()))
    return chosen

