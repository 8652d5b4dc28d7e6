"""Labels: a labels file imported by a task run (validated here first), or one labeling set at a time from the UI.

Both paths end in the same ``labels`` table (a set's decided labels); a save from the UI or the API is the
caller's *answer*, which decides the set as the transform's labeling policy says (``services.answers``). What a
caller sees of a set depends on their role: labelers see their own answer where several answers are wanted or the
set is gold, and nothing of the model in a blind policy.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from matcher.active import SET_NAMESPACE
from matcher.auto_label import MACHINE
from matcher.errors import MatcherError, shown
from matcher.labels import MAX_LABEL_LENGTH, read_labels
from services import auto_completion, auto_labeling, label_history, run_types
from services import validation as v
from services.answers import SYSTEM, Caller, review, submit
from services.config import Config
from services.datasets import read_column, read_rows
from services.errors import Conflict, NotFound, ServiceError, ValidationError
from services.label_rows import decided_labels, lock_transform, replace_decided
from services.labeling_policy import LabelingPolicy, policy_of
from services.rows import get_or_404
from services.task_runs import Dispatch, start_run
from services.uploads import save_upload, user_message
from storage.db import Database
from storage.models import Label, LabelAnswer, LabelingSet, TaskRun, Transform, utcnow

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
    answers_wanted: int = 1
    answer_count: int = 0  # labelers who answered
    answered_by_me: bool = False
    answers: list[dict[str, Any]] | None = None  # each labeler's answer: only for those who decide
    gold: bool | None = None  # None: not shown to this caller
    review_state: str | None = None
    consolidation: dict[str, Any] | None = None
    blind: bool = False  # the model's reasons and suggestions withheld from this caller
    machine_records: int = 0  # records of the set the machine labels itself (auto_label_mode "complete")


@dataclass(frozen=True)
class SetSummary:
    set_id: str
    task_run_id: str | None = None
    size: int = 0
    labeled: int = 0
    created_at: datetime | None = None
    answers: int = 0
    review_state: str | None = None
    gold: bool | None = None


def start_import(config: Config, db: Database, transform_id: str, filename: str, stream: IO[bytes],
                 replace: bool, user_id: str | None, dispatch: Dispatch, gold: bool = False) -> TaskRun:
    """Validate the whole file now (a bad file is a 4xx and nothing is written), then start IMPORT_LABELS;
    ``gold``: the file's sets become gold sets (their labels the answer key labelers are measured against)."""
    transform = _transform(db, transform_id)
    path = save_upload(config, filename, stream, "labels")
    try:
        keys = [k for k in read_column(config, transform.dataset_id, transform.primary_key) if k is not None]
        try:
            read_labels(path, transform.primary_key, known_keys=keys)
        except MatcherError as exc:
            raise user_message(exc, path, filename) from None
        params = {"path": str(path), "replace": replace, "filename": filename, **({"gold": True} if gold else {})}
        return start_run(config, db, transform_id, run_types.IMPORT_LABELS.name, params, user_id, dispatch)
    except (MatcherError, ServiceError, OSError):  # ServiceUnavailable too: the run is FAILED, nothing reads it
        path.unlink(missing_ok=True)
        raise


def _transform(db: Database, transform_id: str) -> Transform:
    return get_or_404(db, Transform, transform_id, "transform")


def get_set(config: Config, db: Database, transform_id: str, set_id: str, caller: Caller = SYSTEM) -> SetView:
    """A set's records (in the set's order), labels and why the engine chose it, as ``caller`` may see it.

    A set known only from imported labels (no proposal row) is shown with its labeled records.
    """
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        policy = policy_of(transform.labeling_policy)
        proposal = session.scalar(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                            LabelingSet.set_id == set_id))
        labels = list(session.scalars(select(Label).where(Label.transform_id == transform_id,
                                                          Label.labeling_set_id == set_id).order_by(Label.id)))
        answer_rows = list(session.scalars(select(LabelAnswer).where(
            LabelAnswer.transform_id == transform_id, LabelAnswer.labeling_set_id == set_id).order_by(LabelAnswer.id)))
    if proposal is None and not labels and not answer_rows:
        raise NotFound(f"labeling set {shown(set_id)} not found for transform {shown(transform_id)}")
    keys = [str(k) for k in proposal.record_keys] if proposal else []
    machine = auto_completion.machine_keys(proposal.machine_plan if proposal else None)
    if not caller.decides:  # the machine's records of a set it completes are not the labelers' to see or answer
        labels = [label for label in labels if label.record_key not in machine]
    keys += [label.record_key for label in labels if label.record_key not in keys]
    rows = read_rows(config, transform.dataset_id, transform.primary_key, keys)
    reason = dict(proposal.reason or {}) if proposal else {}
    if not caller.decides:
        reason.pop(auto_labeling.REASON_KEY, None)  # the machine's answer to a set humans check: no anchoring on it
    groups = suggested_groups(reason.pop("suggested_groups", None), keys)
    gold = proposal is not None and proposal.gold_labels is not None
    own_answer_only = not caller.decides and (gold or (proposal is not None and policy.answers_per_set > 1))
    blind = policy.blind and not caller.decides
    if own_answer_only:
        labels = [Label(record_key=a.record_key, label=a.label, labeled_by=a.labeler, labeled_at=a.answered_at)
                  for a in answer_rows if a.labeler == caller.name]
    return SetView(set_id=set_id, task_run_id=proposal.task_run_id if proposal else None,
                   reason={} if blind else reason, record_keys=keys,
                   records=[rows.get(k, {transform.primary_key: k}) for k in keys], labels=labels,
                   created_at=proposal.created_at if proposal else None,
                   suggested_groups=None if blind else groups,
                   answers_wanted=policy.answers_per_set if proposal is not None else 1,
                   answer_count=len({a.labeler for a in answer_rows}),
                   answered_by_me=any(a.labeler == caller.name for a in answer_rows),
                   answers=_answers_by_labeler(answer_rows) if caller.decides else None,
                   gold=gold if caller.decides else None,
                   review_state=proposal.review_state if proposal and caller.decides else None,
                   machine_records=len(machine),
                   consolidation=proposal.consolidation if proposal and caller.decides else None, blind=blind)


def _answers_by_labeler(rows: list[LabelAnswer]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for a in rows:
        entry = out.setdefault(a.labeler, {"labeler": a.labeler, "answered_at": a.answered_at, "labels": {}})
        entry["labels"][a.record_key] = a.label
    return list(out.values())


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


def list_sets(db: Database, transform_id: str, caller: Caller = SYSTEM) -> list[SetSummary]:
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        policy = policy_of(transform.labeling_policy)
        proposals = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)
                                         .order_by(LabelingSet.created_at, LabelingSet.id)))
        counted = session.execute(select(Label.labeling_set_id, func.count(), func.sum(
            case((Label.labeled_by == MACHINE, 1), else_=0))).where(
            Label.transform_id == transform_id).group_by(Label.labeling_set_id))
        completed = {p.set_id for p in proposals if p.machine_plan}
        # a set the machine completes counts its humans' records: its size is what humans label
        labeled = {set_id: int(n) - (int(by_machine or 0) if set_id in completed else 0)
                   for set_id, n, by_machine in counted}
        answered = _answer_counts(session, transform_id, caller.name)
    sets = [_summary(p, labeled.pop(p.set_id, 0), answered, policy, caller) for p in proposals]
    return sets + [SetSummary(set_id, None, n, n) for set_id, n in sorted(labeled.items())]


def _answer_counts(session: Session, transform_id: str, me: str) -> dict[str, tuple[int, int]]:
    """set id -> (labelers who answered, records I labeled)."""
    out: dict[str, tuple[int, int]] = {}
    rows = session.execute(select(LabelAnswer.labeling_set_id, LabelAnswer.labeler, func.count()).where(
        LabelAnswer.transform_id == transform_id).group_by(LabelAnswer.labeling_set_id, LabelAnswer.labeler))
    for set_id, labeler, n in rows:
        labelers, mine = out.get(set_id, (0, 0))
        out[set_id] = (labelers + 1, mine + (int(n) if labeler == me else 0))
    return out


def _summary(p: LabelingSet, labeled: int, answered: dict[str, tuple[int, int]], policy: LabelingPolicy,
             caller: Caller) -> SetSummary:
    gold = p.gold_labels is not None
    labelers, mine = answered.get(p.set_id, (0, 0))
    if not caller.decides and (gold or policy.answers_per_set > 1):
        labeled = mine  # a labeler sees their own progress, not others' answers nor the answer key
    return SetSummary(p.set_id, p.task_run_id, len(p.record_keys), labeled, p.created_at, labelers,
                      p.review_state if caller.decides else None, gold if caller.decides else None)


def put_set_labels(config: Config, db: Database, transform_id: str, set_id: str, body: Any,
                   caller: Caller) -> SetView:
    """The caller's answer to the set, ``body['labels']`` (empty label = unlabeled), in one transaction; it decides
    the set's labels as the labeling policy says (``services.answers``)."""
    body = v.require_object(body)
    v.only_fields(body, ("labels",))
    view = get_set(config, db, transform_id, set_id, caller)
    chosen = _parse_labels(_label_items(body), set(view.record_keys), set_id)
    submit(db, transform_id, set_id, dict(chosen), caller)
    return get_set(config, db, transform_id, set_id, caller)


def review_set(config: Config, db: Database, transform_id: str, set_id: str, body: Any, caller: Caller) -> SetView:
    """A reviewer's decision on the set: ``{labels: [...], note?: str}`` replaces its decided labels."""
    body = v.require_object(body)
    v.only_fields(body, ("labels", "note"))
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise ValidationError("note must be a string of at most 2000 characters", field="note")
    view = get_set(config, db, transform_id, set_id, caller)
    chosen = _parse_labels(_label_items(body), set(view.record_keys), set_id)
    review(db, transform_id, set_id, dict(chosen), caller, note)
    return get_set(config, db, transform_id, set_id, caller)


def _label_items(body: dict[str, Any]) -> list[Any]:
    items = body.get("labels")
    if not isinstance(items, list):
        raise ValidationError("labels must be a list of {record_key, label} objects", field="labels")
    return items


def create_adhoc_set(config: Config, db: Database, transform_id: str, body: Any,
                     caller: Caller) -> tuple[SetView, bool]:
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
            lock_transform(session, transform_id)
            existing = session.scalar(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                                LabelingSet.set_id == set_id))
            if existing is None:
                session.add(LabelingSet(transform_id=transform_id, set_id=set_id, record_keys=list(keys),
                                        reason={"source": "user", "labeled_by": caller.name}))
            before = decided_labels(session, transform_id, [set_id])[set_id]
            after = {key: label.strip() for key, label in zip(keys, values, strict=True)}
            replace_decided(session, transform_id, set_id, after, caller.name, now)
            label_history.record(session, transform_id, set_id, caller.name, caller.source, "label", before, after,
                                 at=now)
    except IntegrityError as exc:  # a concurrent save of the same records (or the transform's deletion)
        raise Conflict(f"labeling set {shown(set_id)} changed while saving; try again") from exc
    return get_set(config, db, transform_id, set_id, caller), existing is None


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

