"""Database models: the resource model follows Glue's ML transforms (datasets, transforms, task runs, labels).

Ids are UUID strings made by us (stable, deterministic to tests via ``new_id``); times are timezone-aware UTC.
Every label records who made it and when, from the first day.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from matcher.labels import MAX_LABEL_LENGTH, MAX_SET_ID_LENGTH
from storage.run_status import RunStatus


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone=True columns; we always store UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every answer and file of the service shows times."""
    return None if moment is None else as_utc(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | reviewer | labeler (services.users.ROLES)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # set: none of its tokens work


class ApiToken(Base):
    """One of a user's bearer tokens: only its sha256 is stored; revoked or past ``expires_at`` it is refused."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))  # original file name or the database table named
    artifact: Mapped[str] = mapped_column(String(500))  # Parquet copy under the data dir (every value a string)
    columns: Mapped[list[Any]] = mapped_column(JSON)  # column names in input order
    column_types: Mapped[dict[str, Any]] = mapped_column(JSON)  # name -> inferred type
    row_count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transform(Base):
    __tablename__ = "transforms"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    primary_key: Mapped[str] = mapped_column(String(200))
    source_column: Mapped[str | None] = mapped_column(String(200))
    precision_recall_tradeoff: Mapped[float] = mapped_column(Float, default=0.5)
    accuracy_cost_tradeoff: Mapped[float] = mapped_column(Float, default=0.5)
    enforce_provided_labels: Mapped[bool] = mapped_column(Boolean, default=False)
    one_to_one: Mapped[bool | None] = mapped_column(Boolean, default=None)  # None: decided from the data
    timeout_minutes: Mapped[int] = mapped_column(Integer, default=2880)
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    evaluation_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # golden records: column -> {"rule": ...} (matcher.survivorship); None: every column by its type's default
    survivorship: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # how sets are labeled: answers per set, blind mode, gold share... (services.labeling_policy); None: defaults
    labeling_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # column -> type the user chose (matcher.column_types; services.column_choices); None: the profile types all
    column_types: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    dataset: Mapped[Dataset] = relationship()


class Label(Base):
    """One record's *decided* label in one labeling set: what training reads. Written by a single labeler's answer
    (one answer per set), the consolidation of several labelers' answers, a reviewer's decision, a gold set or the
    CSV import; every change is appended to ``label_events``."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("transform_id", "labeling_set_id", "record_key"),
                      Index("ix_labels_transform", "transform_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    labeling_set_id: Mapped[str] = mapped_column(String(MAX_SET_ID_LENGTH))
    record_key: Mapped[str] = mapped_column(String(500))
    label: Mapped[str] = mapped_column(String(MAX_LABEL_LENGTH))
    labeled_by: Mapped[str | None] = mapped_column(String(200))
    labeled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelingSet(Base):
    """A set the engine proposed: its records and why it was chosen (labels live in ``labels``)."""

    __tablename__ = "labeling_sets"
    __table_args__ = (UniqueConstraint("transform_id", "set_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    set_id: Mapped[str] = mapped_column(String(MAX_SET_ID_LENGTH))
    task_run_id: Mapped[str | None] = mapped_column(String(36))
    record_keys: Mapped[list[Any]] = mapped_column(JSON)
    reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # gold: record key -> label (None: not gold); labelers answering a gold set are measured against it
    gold_labels: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    review_state: Mapped[str | None] = mapped_column(String(20), default=None)  # None | needed | decided
    consolidation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # how its labels were decided
    # automated completion (policy auto_label_mode "complete"): the records the machine labels once humans answered
    # (services.auto_completion; None: humans label every record of record_keys, which then holds the rest)
    machine_plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class LabelAnswer(Base):
    """One labeler's answer for one record of a set; answers are never overwritten by another labeler's."""

    __tablename__ = "label_answers"
    __table_args__ = (UniqueConstraint("transform_id", "labeling_set_id", "labeler", "record_key"),
                      Index("ix_label_answers_set", "transform_id", "labeling_set_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    labeling_set_id: Mapped[str] = mapped_column(String(MAX_SET_ID_LENGTH))
    labeler: Mapped[str] = mapped_column(String(200))
    record_key: Mapped[str] = mapped_column(String(500))
    label: Mapped[str] = mapped_column(String(MAX_LABEL_LENGTH))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelLease(Base):
    """A set handed to a labeler by their queue, reserved for them until ``expires_at`` or their answer, so that
    the queue does not hand the set's last wanted answer to two labelers at once."""

    __tablename__ = "label_leases"
    __table_args__ = (UniqueConstraint("transform_id", "labeling_set_id", "labeler"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    labeling_set_id: Mapped[str] = mapped_column(String(MAX_SET_ID_LENGTH))
    labeler: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LabelEvent(Base):
    """The audit trail: one appended row per change of an answer or of a set's decided labels (who, when, from
    where, before and after as record key -> label). Rows are never updated or deleted, except that erasing a
    record removes its key from them (services.erasure)."""

    __tablename__ = "label_events"
    __table_args__ = (Index("ix_label_events_set", "transform_id", "labeling_set_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    labeling_set_id: Mapped[str] = mapped_column(String(MAX_SET_ID_LENGTH))
    actor: Mapped[str] = mapped_column(String(200))  # a user's name, or "machine" for consolidation
    source: Mapped[str] = mapped_column(String(20))  # services.label_history.SOURCES
    action: Mapped[str] = mapped_column(String(20))  # services.label_history.ACTIONS
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class ImportedModel(Base):
    """A model file an admin imported into a transform (``services.model_import``): the file lives under
    ``models/<transform_id>/<id>.zip`` (``storage.artifacts``); the newest import is what FIND_MATCHES applies
    while no label of the transform is newer than it."""

    __tablename__ = "imported_models"
    __table_args__ = (Index("ix_imported_models_transform", "transform_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)  # the model version
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(500))  # the uploaded file's name (or where it was copied from)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the file's bytes as imported
    size: Mapped[int] = mapped_column(Integer)  # bytes
    imported_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TaskRun(Base):
    """A long job; its state lives here, committed before the Celery task is enqueued."""

    __tablename__ = "task_runs"
    __table_args__ = (Index("ix_task_runs_transform", "transform_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    transform_id: Mapped[str] = mapped_column(ForeignKey("transforms.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.STARTING.value)  # storage.run_status
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output: Mapped[str | None] = mapped_column(String(500))  # artifact path of the published output
    output_format: Mapped[str | None] = mapped_column(String(20))
    timeout_minutes: Mapped[int] = mapped_column(Integer, default=2880)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    celery_task_id: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    execution_seconds: Mapped[float | None] = mapped_column(Float)


class IdempotencyKey(Base):
    """A POST's response, replayed when the same client retries with the same Idempotency-Key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(200))
    method_path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
