"""Reading a transform's entity store (``services.entity_stores``) for the API: its entities by page and by id,
and the changelog a run published. Readers never lock: a version is complete before ``CURRENT`` names it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matcher.errors import shown
from matcher.model_file import read_manifest
from matcher.settings import Settings
from matcher.survivorship import FROM, golden_records, rules_for
from services import run_types
from services.config import Config
from services.entity_stores import CHANGES_FILE, current_files, no_store, store_of
from services.errors import NotFound, ValidationError
from storage.db import Database
from storage.models import Transform

PAGE_MAX = 500
MAX_OFFSET = 2**31 - 1
SHOWN_KEYS = 5  # keys listed per entity in the entities list


@dataclass(frozen=True)
class EntityPage:
    transform_id: str
    store_version: int
    offset: int
    limit: int
    total: int  # entities matching q
    columns: list[str]
    entities: list[dict[str, Any]]


@dataclass(frozen=True)
class EntityView:
    transform_id: str
    match_id: int
    status: str  # ACTIVE, MERGED (into ``merged_into``) or REMOVED
    merged_into: int | None
    records: list[dict[str, Any]]
    history: list[dict[str, Any]]
    golden: dict[str, Any] | None  # the survivor (``matcher.survivorship``): per column a value and its record's key


def _transform(db: Database, transform_id: str) -> Transform:
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        return transform


def _current(config: Config, transform_id: str, *names: str) -> tuple[int, list[pd.DataFrame]]:
    store = store_of(config, transform_id)
    if not store.exists():
        raise NotFound(no_store(transform_id))
    return current_files(store, *names)


def list_entities(config: Config, db: Database, transform_id: str, q: str | None, offset: int,
                  limit: int) -> EntityPage:
    """The store's entities by match_id, ``q`` (case-insensitive) found in some value of one of their records."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationError(f"offset must be from 0 to {MAX_OFFSET}, got {shown(offset)}", field="offset")
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationError(f"limit must be from 1 to {PAGE_MAX}, got {shown(limit)}", field="limit")
    transform = _transform(db, transform_id)
    version, (records, entities) = _current(config, transform_id, "records", "entities")
    ids = entities["match_id"].to_numpy(dtype=np.int64)
    if q:
        hit = np.zeros(len(records), dtype=bool)
        for column in records.columns:
            hit |= records[column].astype("string").str.contains(q, case=False, regex=False).fillna(False).to_numpy(
                dtype=bool)
        wanted = np.unique(ids[hit])
    else:
        wanted = np.unique(ids)
    page = wanted[offset:offset + limit]
    rows = np.flatnonzero(np.isin(ids, page))
    rows = rows[np.argsort(ids[rows], kind="stable")]
    members = records.iloc[rows].astype(object).where(records.iloc[rows].notna(), None)
    out = []
    for match_id, group in members.groupby(ids[rows], sort=True):
        first = group.iloc[0].to_dict()
        out.append({"match_id": int(match_id), "records": len(group),
                    "keys": [str(k) for k in group[transform.primary_key].head(SHOWN_KEYS)],
                    "values": {str(k): _text(v) for k, v in first.items()}})
    return EntityPage(transform_id, version, offset, limit, int(len(wanted)), [str(c) for c in records.columns], out)


def get_entity(config: Config, db: Database, transform_id: str, match_id: int) -> EntityView:
    """An entity's records and history; an id merged into another names the survivor (followed to the current
    one); an id never used is a 404."""
    transform = _transform(db, transform_id)
    _, (records, entities, history, merged) = _current(config, transform_id, "records", "entities", "history",
                                                       "merged")
    ids = entities["match_id"].to_numpy(dtype=np.int64)
    mine = history[history["match_id"] == match_id]
    rows = np.flatnonzero(ids == match_id)
    if not len(rows) and mine.empty:
        raise NotFound(f"transform {transform_id} has no entity with match_id {match_id}")
    survivor = _survivor(merged, match_id) if not len(rows) else None
    status = "ACTIVE" if len(rows) else "MERGED" if survivor is not None else "REMOVED"
    members = records.iloc[rows].copy()
    members["match_confidence_score"] = entities["match_confidence_score"].to_numpy()[rows]
    listed = [{str(k): json_value(v) for k, v in r.items()} for r in members.astype(object).to_dict("records")]
    events = [{str(k): json_value(v) for k, v in r.items()} for r in mine.astype(object).to_dict("records")]
    golden = _golden(config, transform, records.iloc[rows].reset_index(drop=True), match_id) if len(rows) \
        else None
    return EntityView(transform_id, match_id, status, survivor, listed, events, golden)


def _golden(config: Config, transform: Transform, records: pd.DataFrame, match_id: int) -> dict[str, Any]:
    """The entity's golden record: ``values`` and ``sources`` (the key each came from), by the transform's
    survivorship rules, else each column's type default (the types of the settings its model was fitted with)."""
    store = store_of(config, transform.id)
    settings = Settings.from_dict(read_manifest(store.model_path())["settings"])
    if transform.survivorship:
        settings = replace(settings, survivorship=dict(transform.survivorship))
    key = settings.primary_key
    row = golden_records(records, np.full(len(records), match_id), key,
                         rules_for(settings, [str(c) for c in records.columns])).iloc[0]
    columns = [c for c in records.columns if c != key]
    return {"values": {str(c): json_value(row[c]) for c in columns},
            "sources": {str(c): json_value(row[c + FROM]) for c in columns}}


def _survivor(merged: pd.DataFrame, match_id: int) -> int | None:
    into = dict(zip(merged["match_id"].astype(np.int64).tolist(), merged["merged_into"].astype(np.int64).tolist(),
                    strict=True))
    if match_id not in into:
        return None
    current, seen = match_id, set()
    while current in into and current not in seen:
        seen.add(current)
        current = into[current]
    return current


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# -- a run's changelog ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangePage:
    run_id: str
    store_version: int | None  # the store version the run published (its stats.json)
    counts: dict[str, int]
    total: int
    offset: int
    limit: int
    changes: list[dict[str, Any]]


def run_changes(config: Config, run_id: str, run_type: str, status: str, output: str | None, offset: int,
                limit: int) -> ChangePage:
    """One page of the changelog a run published (FIND_MATCHES, FIND_INCREMENTAL_MATCHES)."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationError(f"offset must be from 0 to {MAX_OFFSET}, got {shown(offset)}", field="offset")
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationError(f"limit must be from 1 to {PAGE_MAX}, got {shown(limit)}", field="limit")
    if CHANGES_FILE not in run_types.get(run_type).files:
        raise NotFound(f"task run {run_id} is a {run_type} run: it has no entity changelog")
    if status != "SUCCEEDED" or not output:
        raise NotFound(f"task run {run_id} is {status}: its changelog exists once it has SUCCEEDED")
    path = Path(config.data_dir) / Path(output).parent / CHANGES_FILE
    if not path.is_file():
        raise NotFound(f"task run {run_id} has no {CHANGES_FILE} (it predates entity stores)")
    frame = pd.read_csv(path, dtype={"related_ids": str}, keep_default_na=False)
    counts = {str(k): int(v) for k, v in frame["change"].value_counts().items()} if len(frame) else {}
    page = frame.iloc[offset:offset + limit]
    rows = [{str(k): json_value(v) for k, v in r.items()} for r in page.astype(object).to_dict("records")]
    return ChangePage(run_id, _store_version(path.parent / "stats.json"), counts, len(frame), offset, limit, rows)


def _store_version(stats: Path) -> int | None:
    try:
        version = json.loads(stats.read_text(encoding="utf-8")).get("store_version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, int) else None
