"""JSON representations of the service results, and small request-parsing helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from matcher import column_types
from matcher.errors import shown
from services import tokens
from services.clusters import PAIRS_MIN_PROBABILITY, ClusterPage, ClusterPairs
from services.entities import ChangePage, EntityPage, EntityView
from services.erasure import Erasure
from services.errors import NotFound, ValidationError
from services.label_history import HistoryPage
from services.labeling_policy import policy_of
from services.labels import SetSummary, SetView
from services.models import ModelVersion
from services.transforms import TransformInfo
from storage.models import ApiToken, Dataset, Label, TaskRun, User, iso_utc
from storage.run_status import RunStatus

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def iso(moment: datetime | None) -> str | None:
    return iso_utc(moment)


def parse_bool(value: str | None, field: str, default: bool = False) -> bool:
    if value is None:
        return default
    text = value.strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ValidationError(f"{field} must be true or false, got {shown(value)}", field=field)


def parse_int(value: str | None, field: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:  # also past 4300 digits (Python's int parsing limit)
        raise ValidationError(f"{field} must be an integer, got {shown(value)}", field=field) from None


def dataset_json(dataset: Dataset, preview: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = {"id": dataset.id, "name": dataset.name, "source": dataset.source,
            "columns": [{"name": c, "type": dataset.column_types.get(c)} for c in dataset.columns],
            "row_count": dataset.row_count, "created_by": dataset.created_by, "created_at": iso(dataset.created_at)}
    if preview is not None:
        body["preview"] = preview
    return body


def dataset_detail_json(dataset: Dataset, preview: list[dict[str, Any]], key_candidates: list[str] | None
                        ) -> dict[str, Any]:
    """One dataset, each column saying whether it is unique and never empty (a possible primary key), as found
    at upload; null for a dataset uploaded before that was looked for."""
    body = dataset_json(dataset, preview)
    for column in body["columns"]:
        column["unique_non_empty"] = None if key_candidates is None else column["name"] in key_candidates
    return body


def transform_json(info: TransformInfo) -> dict[str, Any]:
    t = info.transform
    return {"id": t.id, "name": t.name, "dataset_id": t.dataset_id, "primary_key": t.primary_key,
            "source_column": t.source_column, "precision_recall_tradeoff": t.precision_recall_tradeoff,
            "accuracy_cost_tradeoff": t.accuracy_cost_tradeoff,
            "enforce_provided_labels": t.enforce_provided_labels, "one_to_one": t.one_to_one,
            "survivorship": t.survivorship, "labeling_policy": policy_of(t.labeling_policy).to_json(),
            "column_types": t.column_types,
            "columns": [{"name": c.name, "type": c.type, "chosen": c.chosen} for c in info.columns],
            "timeout_minutes": t.timeout_minutes, "max_retries": t.max_retries, "status": info.status,
            "label_count": info.label_count, "evaluation_metrics": t.evaluation_metrics,
            "created_by": t.created_by, "created_at": iso(t.created_at), "updated_at": iso(t.updated_at)}


def column_types_json() -> dict[str, Any]:
    return {"column_types": [{"name": name, "label": column_types.label(name),
                              "description": column_types.description(name)} for name in column_types.names()]}


def task_run_json(run: TaskRun) -> dict[str, Any]:
    return {"id": run.id, "transform_id": run.transform_id, "type": run.type, "status": run.status,
            "progress": run.progress, "stage": run.stage, "error_message": run.error_message,
            "params": _public_params(run), "has_output": bool(run.output) and run.status == RunStatus.SUCCEEDED,
            "output_format": run.output_format, "timeout_minutes": run.timeout_minutes, "attempts": run.attempts,
            "created_by": run.created_by, "created_at": iso(run.created_at), "started_on": iso(run.started_on),
            "completed_on": iso(run.completed_on), "execution_seconds": run.execution_seconds}


def model_json(model: ModelVersion) -> dict[str, Any]:
    return {"version": model.version, "created_at": model.created_at, "labels": model.labels,
            "schema_version": model.schema_version, "metrics": model.metrics, "imported": model.imported,
            "filename": model.filename, "imported_at": model.imported_at, "imported_by": model.imported_by,
            "in_effect": model.in_effect}


def _public_params(run: TaskRun) -> dict[str, Any]:
    """Server-side paths (an imported file's location) stay on the server."""
    return {k: v for k, v in (run.params or {}).items() if k != "path"}


def label_json(label: Label) -> dict[str, Any]:
    return {"record_key": label.record_key, "label": label.label, "labeled_by": label.labeled_by,
            "labeled_at": iso(label.labeled_at)}


def labeling_set_json(view: SetView) -> dict[str, Any]:
    answers = None if view.answers is None else [
        {"labeler": a["labeler"], "answered_at": iso(a["answered_at"]),
         "labels": [{"record_key": k, "label": v} for k, v in a["labels"].items()]} for a in view.answers]
    return {"set_id": view.set_id, "task_run_id": view.task_run_id, "reason": view.reason,
            "record_keys": view.record_keys, "records": view.records,
            "labels": [label_json(label) for label in view.labels], "created_at": iso(view.created_at),
            "suggested_groups": view.suggested_groups, "answers_wanted": view.answers_wanted,
            "answer_count": view.answer_count, "answered_by_me": view.answered_by_me, "answers": answers,
            "gold": view.gold, "review_state": view.review_state, "consolidation": view.consolidation,
            "blind": view.blind, "machine_records": view.machine_records}


def set_summary_json(summary: SetSummary) -> dict[str, Any]:
    return {"set_id": summary.set_id, "task_run_id": summary.task_run_id, "size": summary.size,
            "labeled": summary.labeled, "created_at": iso(summary.created_at), "answers": summary.answers,
            "review_state": summary.review_state, "gold": summary.gold}


def history_json(page: HistoryPage) -> dict[str, Any]:
    return {"transform_id": page.transform_id, "total": page.total, "offset": page.offset, "limit": page.limit,
            "events": [{"id": e.id, "labeling_set_id": e.labeling_set_id, "actor": e.actor, "source": e.source,
                        "action": e.action, "at": iso(e.at), "before": e.before, "after": e.after, "note": e.note}
                       for e in page.events]}


def cluster_page_json(page: ClusterPage) -> dict[str, Any]:
    return {"run_id": page.run_id, "offset": page.offset, "limit": page.limit,
            "total_clusters": page.total_clusters, "records_in_clusters": page.records_in_clusters,
            "columns": page.columns, "clusters": page.clusters, "warning": page.warning}


def cluster_pairs_json(found: ClusterPairs) -> dict[str, Any]:
    return {"run_id": found.run_id, "match_id": found.match_id, "min_probability": PAIRS_MIN_PROBABILITY,
            "pairs": found.pairs}


def parse_match_id(value: str, transform_id: str) -> int:
    """An entity id is an integer; anything else names no entity (404, as an unknown id)."""
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise NotFound(f"transform {transform_id} has no entity with match_id {shown(value)}")
    return int(value)


def change_page_json(page: ChangePage) -> dict[str, Any]:
    return {"run_id": page.run_id, "store_version": page.store_version, "counts": page.counts,
            "total": page.total, "offset": page.offset, "limit": page.limit, "changes": page.changes}


def entity_page_json(page: EntityPage) -> dict[str, Any]:
    return {"transform_id": page.transform_id, "store_version": page.store_version, "offset": page.offset,
            "limit": page.limit, "total": page.total, "columns": page.columns, "entities": page.entities}


def entity_json(view: EntityView) -> dict[str, Any]:
    return {"transform_id": view.transform_id, "match_id": view.match_id, "status": view.status,
            "merged_into": view.merged_into, "records": view.records, "history": view.history,
            "golden": view.golden}


def erasure_json(done: Erasure) -> dict[str, Any]:
    return {"transform_id": done.transform_id, "erased": done.erased, "store_version": done.store_version,
            "changes": done.changes, "files_rewritten": done.rewritten, "files_deleted": done.deleted,
            "labels_deleted": done.labels_deleted, "datasets_elsewhere": done.datasets_elsewhere}


def user_json(user: User, active_tokens: int) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role, "created_at": iso(user.created_at),
            "disabled_at": iso(user.disabled_at), "active_tokens": active_tokens}


def token_json(token: ApiToken, secret: str | None = None) -> dict[str, Any]:
    """Never the secret, except in the one answer that made the token (``secret``)."""
    body = {"id": token.id, "user_id": token.user_id, "name": token.name, "status": tokens.status(token),
            "created_at": iso(token.created_at), "expires_at": iso(token.expires_at),
            "last_used_at": iso(token.last_used_at), "revoked_at": iso(token.revoked_at)}
    if secret is not None:
        body["secret"] = secret
    return body
