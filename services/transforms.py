"""Transforms (Glue's ML transforms): a dataset, its primary key, the two knobs; READY once it has labels."""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from matcher.errors import SettingsError, shown, shown_all
from matcher.io import MAX_LISTED
from matcher.survivorship import rules_from_dict
from services import upload_retention
from services import validation as v
from services.column_choices import ColumnInUse, in_use, parse_choices
from services.config import Config
from services.datasets import read_column, row_positions
from services.errors import Conflict, NotFound, ValidationError
from services.labeling_policy import parse_policy
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Dataset, Label, TaskRun, Transform
from storage.run_status import ACTIVE

KNOBS = ("precision_recall_tradeoff", "accuracy_cost_tradeoff")
FLAGS = ("enforce_provided_labels", "one_to_one")
DECIDED_WHEN_NULL = {"one_to_one"}  # null: the engine decides from the data and the labels
INTEGERS = {"timeout_minutes": (1, 7 * 24 * 60), "max_retries": (0, 10)}
PATCH_FIELDS = ("name", *KNOBS, *FLAGS, *INTEGERS, "survivorship", "labeling_policy", "column_types")
CREATE_FIELDS = ("dataset_id", "primary_key", "source_column", *PATCH_FIELDS)


@dataclass(frozen=True)
class TransformInfo:
    transform: Transform
    label_count: int
    columns: tuple[ColumnInUse, ...]  # the type each column is matched as (services.column_choices)

    @property
    def status(self) -> str:
        return "READY" if self.label_count else "NOT_READY"


def create_transform(config: Config, db: Database, data: Any, user_id: str | None = None) -> TransformInfo:
    data = v.require_object(data)
    v.only_fields(data, CREATE_FIELDS)
    name, dataset_id = v.text(data, "name"), v.text(data, "dataset_id", max_length=36)
    primary_key = v.text(data, "primary_key")
    source_column = v.optional_text(data, "source_column")
    options = _options(data)
    with db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise ValidationError(f"dataset {dataset_id} not found", field="dataset_id")
        _check_columns(dataset, primary_key, source_column)
        check_primary_key(config, dataset, primary_key)
        if "survivorship" in data:
            options["survivorship"] = survivorship_rules(data, list(dataset.columns), primary_key)
        if "column_types" in data:
            options["column_types"] = parse_choices(data["column_types"], list(dataset.columns),
                                                    (primary_key, source_column))
        transform = Transform(name=name, dataset_id=dataset_id, primary_key=primary_key,
                              source_column=source_column, created_by=user_id, dataset=dataset, **options)
        session.add(transform)
        return TransformInfo(transform, 0, in_use(transform))


def _options(data: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in KNOBS:
        if key in data:
            options[key] = v.unit_interval(data, key)
    for key in FLAGS:
        if key in data:
            options[key] = v.optional_flag(data, key) if key in DECIDED_WHEN_NULL else v.flag(data, key)
    for key, (low, high) in INTEGERS.items():
        if key in data:
            options[key] = v.integer(data, key, low, high)
    if "labeling_policy" in data:
        options["labeling_policy"] = parse_policy(data["labeling_policy"])
    return options


def survivorship_rules(data: dict[str, Any], columns: list[str], primary_key: str) -> dict[str, Any] | None:
    """The ``survivorship`` field: null, or column -> rule as the settings JSON takes it (``matcher.survivorship``),
    checked against the dataset's columns (422 naming the column and the allowed rules)."""
    value = data["survivorship"]
    if value is None:
        return None
    try:
        rules_from_dict(value, [c for c in columns if c != primary_key])
    except SettingsError as exc:
        raise ValidationError(str(exc), field="survivorship") from None
    return dict(value)


def _check_columns(dataset: Dataset, primary_key: str, source_column: str | None) -> None:
    available = shown_all(list(dataset.columns))
    for field, column in (("primary_key", primary_key), ("source_column", source_column)):
        if column is not None and column not in dataset.columns:
            raise ValidationError(f"column {shown(column)} not in dataset {dataset.name!r}; available: {available}",
                                  field=field)
    if source_column == primary_key:
        raise ValidationError("source_column must differ from primary_key", field="source_column")


def check_primary_key(config: Config, dataset: Dataset, column: str) -> None:
    """Non-empty and unique on every row; the error names the keys and their lines (a CSV upload, header = line
    1, as the CLI says) or 1-based data rows (Parquet, a database table)."""
    keys = read_column(config, dataset.id, column)  # str | None per row
    unit, lines = row_positions(config, dataset.id)

    def position(row: int) -> int:
        return int(lines[row - 1]) if lines is not None else row

    def listed(rows: list[int]) -> str:
        named = ", ".join(f"{unit} {position(r)}" for r in rows[:MAX_LISTED])
        return named + (f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else "")

    def failure(detail: str, row: int) -> ValidationError:
        return ValidationError(detail, field="primary_key", **{unit: position(row)})

    empty = [row for row, key in enumerate(keys, start=1) if key is None]
    if empty:
        raise failure(f"primary key {column!r} is empty on {len(empty)} {unit}(s): {listed(empty)}", empty[0])
    rows: dict[str | None, list[int]] = defaultdict(list)
    for row, key in enumerate(keys, start=1):
        rows[key].append(row)
    repeated = [(key, found) for key, found in rows.items() if len(found) > 1]
    if repeated:
        named = "; ".join(f"{shown(key)} ({listed(found)})" for key, found in repeated[:MAX_LISTED])
        more = f"; and {len(repeated) - MAX_LISTED} more" if len(repeated) > MAX_LISTED else ""
        raise failure(f"primary key {column!r} is not unique: {len(repeated)} duplicated value(s): {named}{more}",
                      repeated[0][1][1])


def get_transform(db: Database, transform_id: str) -> TransformInfo:
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        return TransformInfo(transform, label_count(session, transform_id), in_use(transform))


def list_transforms(db: Database) -> list[TransformInfo]:
    with db.session() as session:
        transforms = list(session.scalars(select(Transform).options(selectinload(Transform.dataset))
                                          .order_by(Transform.created_at, Transform.id)))
        counts = label_counts(session)
        return [TransformInfo(t, counts.get(t.id, 0), in_use(t)) for t in transforms]


def label_count(session: Any, transform_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(Label).where(Label.transform_id == transform_id)))


def label_counts(session: Any) -> dict[str, int]:
    query = select(Label.transform_id, func.count()).group_by(Label.transform_id)
    return {transform_id: int(count) for transform_id, count in session.execute(query)}


def patch_transform(db: Database, transform_id: str, data: Any) -> TransformInfo:
    data = v.require_object(data)
    for key in data:
        if key in CREATE_FIELDS and key not in PATCH_FIELDS:
            raise ValidationError(f"{key} cannot be changed; create a new transform instead", field=key)
    v.only_fields(data, PATCH_FIELDS)
    options = _options(data)
    if "name" in data:
        options["name"] = v.text(data, "name")
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        if "survivorship" in data:
            options["survivorship"] = survivorship_rules(data, list(transform.dataset.columns), transform.primary_key)
        if "column_types" in data:
            options["column_types"] = parse_choices(data["column_types"], list(transform.dataset.columns),
                                                    (transform.primary_key, transform.source_column))
        for key, value in options.items():
            setattr(transform, key, value)
        session.flush()
        return TransformInfo(transform, label_count(session, transform_id), in_use(transform))


def delete_transform(config: Config, db: Database, transform_id: str) -> None:
    """Deletes its labels, labeling sets and task runs too, with their outputs, fitted models, imported models,
    entity store and uploaded labels files; refused (409) while a run is active."""
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        runs = list(session.scalars(select(TaskRun.id).where(TaskRun.transform_id == transform_id)))
        imports = list(session.scalars(select(TaskRun.params).where(TaskRun.transform_id == transform_id,
                                                                   TaskRun.type == upload_retention.IMPORT_TYPE)))
        active = session.scalar(select(func.count()).select_from(TaskRun).where(
            TaskRun.transform_id == transform_id, TaskRun.status.in_(ACTIVE)))
        if active:
            raise Conflict(f"transform {transform_id} has {active} active task run(s); cancel them first")
        session.delete(transform)
    store = ArtifactStore(config.data_dir)
    upload_retention.discard_all(config.data_dir, imports)
    for run_id in runs:
        shutil.rmtree(store.output_dir(run_id), ignore_errors=True)
    shutil.rmtree(store.root / "artifacts" / transform_id, ignore_errors=True)
    shutil.rmtree(store.entity_store_dir(transform_id), ignore_errors=True)
    shutil.rmtree(store.imported_models_dir(transform_id), ignore_errors=True)
