"""Erasure (``DELETE /transforms/{id}/records``): records leave the transform's entity store, and their values
leave every file the service holds.

Synchronous, in the web process, refused (409) while a run of a transform sharing the dataset is active (a run
reads the files being rewritten). The records are found by key. Everything that holds them goes:

* the entity store of every transform on the dataset that holds some of the keys (``matcher.incremental.forget``:
  their entities re-clustered and reported; the store is published keeping one version, so earlier versions
  with the values are deleted);
* the dataset's file and the batch datasets of those transforms' incremental runs: rewritten without the rows
  (the CSV line numbers beside them too);
* the fitted-model caches of those transforms (``services.model_cache``: prepared values, design matrices):
  deleted, the next run fits again; their imported models (``services.model_import``) too: a model fitted on
  data holding the records keeps their values' term frequencies and labeled keys, and which data it was fitted
  on cannot be told from the file;
* earlier run outputs: a table holding an erased key (in the primary-key column, or ``key_a``/``key_b``) is
  rewritten without those rows; the model file of such a run (term frequencies of values, labeled pairs) is
  deleted; a JSON file naming an erased key is deleted;
* labels and labeling sets naming the keys, and stored idempotent responses echoing them (a dataset preview).

The answer lists the files rewritten and deleted (relative to the data directory), and the other datasets
whose primary-key column holds some of the keys: they belong to no transform on this dataset, and a key there
may name another record, so they are not rewritten; the caller decides (``DELETE /datasets/{id}``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from matcher.entity_store import EntityStore
from matcher.errors import shown, shown_all
from matcher.incremental import forget
from services import auto_completion, entities, entity_stores, label_history
from services import validation as v
from services.config import Config
from services.errors import Conflict, NotFound, ValidationError
from storage.artifacts import ArtifactStore, write_atomically
from storage.db import Database
from storage.models import (
    Dataset,
    IdempotencyKey,
    ImportedModel,
    Label,
    LabelAnswer,
    LabelEvent,
    LabelingSet,
    TaskRun,
    Transform,
)
from storage.run_status import ACTIVE

MAX_KEYS = 10_000
KEY_COLUMNS = ("key_a", "key_b")  # pairs.parquet names records by these
TABLES = (".csv", ".parquet")


@dataclass
class Erasure:
    transform_id: str
    erased: list[str]
    store_version: int | None
    changes: list[dict[str, Any]]
    rewritten: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    labels_deleted: int = 0
    # other datasets (no transform on this dataset uses them) with a column named like the primary key holding
    # some of the keys: maybe copies of the records, maybe other records under the same keys; left as they are
    datasets_elsewhere: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Scope:
    transform: Transform
    siblings: dict[str, str]  # transform id -> primary key, of the transforms on the same dataset (this one too)
    runs: list[TaskRun]  # their runs
    batch_datasets: list[str]  # datasets their incremental runs matched


def erase_records(config: Config, db: Database, transform_id: str, body: Any) -> Erasure:
    keys = _keys(body)
    scope = _scope(db, transform_id)
    art = ArtifactStore(config.data_dir)
    datasets = [scope.transform.dataset_id, *scope.batch_datasets]
    key = scope.transform.primary_key
    stores = {t: entity_stores.store_of(art, t) for t in scope.siblings}
    held = set().union(*(_held(art.dataset_path(d), key, keys) for d in datasets),
                       _store_keys(stores[transform_id], key, key, set(keys)))
    unknown = [k for k in keys if k not in held]
    if unknown:
        raise ValidationError(f"{len(unknown)} key(s) are in neither the transform's data nor its entity store: "
                              f"{shown_all(unknown)}", field="keys")
    wanted = set(keys)
    # each transform on the dataset names the records by its own primary key
    theirs = {t: wanted if pk == key else _translated(art, datasets, stores[t], key, pk, wanted)
              for t, pk in scope.siblings.items()}
    done = Erasure(transform_id, keys, None, [])
    for tid, store in stores.items():
        version, changes = _forget(store, sorted(_store_keys(store, key, scope.siblings[tid], wanted)))
        if tid == transform_id:
            done.store_version, done.changes = version, changes
    for dataset_id in datasets:
        rows = _rewrite_dataset(art, dataset_id, key, wanted)
        if rows is not None:
            done.rewritten.append(_relative(art, art.dataset_path(dataset_id)))
            with db.session() as session:
                session.get_one(Dataset, dataset_id).row_count = rows
    for tid in scope.siblings:
        cache = art.root / "artifacts" / tid
        if cache.exists():
            shutil.rmtree(cache)
            done.deleted.append(_relative(art, cache) + "/")
        _drop_imports(db, art, tid, done)
    for run in scope.runs:
        mine = theirs[run.transform_id]
        columns = {scope.siblings[run.transform_id]: mine, **dict.fromkeys(KEY_COLUMNS, mine), key: wanted}
        _scrub_outputs(art, art.output_dir(run.id), columns, done)
    done.labels_deleted = _scrub_rows(db, theirs)
    db.checkpoint()  # SQLite: the WAL's images of the rows just deleted leave the disk
    done.datasets_elsewhere = _elsewhere(db, art, set(datasets), key, keys)
    return done


def _drop_imports(db: Database, art: ArtifactStore, transform_id: str, done: Erasure) -> None:
    with db.session() as session:
        versions = [row.id for row in session.scalars(select(ImportedModel).where(
            ImportedModel.transform_id == transform_id))]
        session.execute(delete(ImportedModel).where(ImportedModel.transform_id == transform_id))
    for version in versions:
        path = art.imported_model_path(transform_id, version)
        if path.is_file():
            path.unlink()
            done.deleted.append(_relative(art, path))


def _elsewhere(db: Database, art: ArtifactStore, mine: set[str], key: str, keys: list[str]) -> list[str]:
    with db.session() as session:
        others = [d for d, columns in session.execute(select(Dataset.id, Dataset.columns))
                  if d not in mine and key in (columns or [])]
    return [d for d in others if _held(art.dataset_path(d), key, keys)]


def _keys(body: Any) -> list[str]:
    data = v.require_object(body)
    v.only_fields(data, ("keys",))
    keys = data.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise ValidationError(f"keys must be a list of 1 to {MAX_KEYS} record keys", field="keys")
    bad = [k for k in keys if not isinstance(k, str) or not k]
    if bad:
        raise ValidationError(f"keys must be non-empty strings, got {shown(bad[0])}", field="keys")
    return list(dict.fromkeys(keys))


def _scope(db: Database, transform_id: str) -> _Scope:
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        siblings = {t: pk for t, pk in session.execute(select(Transform.id, Transform.primary_key).where(
            Transform.dataset_id == transform.dataset_id))}
        active = session.scalar(select(func.count()).select_from(TaskRun).where(
            TaskRun.transform_id.in_(siblings), TaskRun.status.in_(ACTIVE)))
        if active:
            raise Conflict(f"{active} task run(s) of the transforms on this dataset are active; erasure rewrites "
                           "the files they read: wait for them or cancel them first")
        runs = list(session.scalars(select(TaskRun).where(TaskRun.transform_id.in_(siblings))))
    batches = [str(r.params["dataset_id"]) for r in runs if isinstance((r.params or {}).get("dataset_id"), str)]
    return _Scope(transform, siblings, runs, list(dict.fromkeys(b for b in batches if b != transform.dataset_id)))


def _held(path: Path, key: str, keys: list[str]) -> set[str]:
    if not path.is_file():
        return set()
    try:
        column = pq.read_table(path, columns=[key]).column(0)
    except (KeyError, pa.ArrowException):
        return set()
    found = pc.is_in(column.cast(pa.string()), value_set=pa.array(keys, pa.string()))
    return set(column.filter(found).to_pylist())


def _store_keys(store: EntityStore, key: str, pk: str, wanted: set[str]) -> set[str]:
    """The store's own keys (``pk``) of its records whose ``key`` column is in ``wanted``."""
    if not store.exists():
        return set()
    _, (records,) = entity_stores.current_files(store, "records")
    if key not in records.columns or pk not in records.columns:
        return set()
    return set(records.loc[records[key].astype(str).isin(wanted), pk].astype(str))


def _translated(art: ArtifactStore, datasets: list[str], store: EntityStore, key: str, pk: str,
                wanted: set[str]) -> set[str]:
    """``wanted`` (values of ``key``) as another transform's keys (values of its ``pk``), from the rows."""
    found = _store_keys(store, key, pk, wanted)
    for dataset_id in datasets:
        path = art.dataset_path(dataset_id)
        if path.is_file():
            rows = pq.read_table(path, columns=[key, pk]).to_pandas()
            found |= set(rows.loc[rows[key].astype(str).isin(wanted), pk].dropna().astype(str))
    return found


def _forget(store: EntityStore, keys: list[str]) -> tuple[int | None, list[dict[str, Any]]]:
    if not keys:
        return None, []
    with store.writing():
        current = store.read()
        outcome = forget(current, pd.Series(keys, dtype=object))
        version = store.publish(outcome.contents, keep=1)  # earlier versions hold the values
    rows = outcome.changes.astype(object).to_dict("records")
    return version, [{str(k): entities.json_value(v) for k, v in r.items()} for r in rows]


def _rewrite_dataset(art: ArtifactStore, dataset_id: str, key: str, wanted: set[str]) -> int | None:
    """The dataset's file without the rows of ``wanted`` (and its CSV line numbers alike); its rows now, None if
    it held none."""
    path = art.dataset_path(dataset_id)
    if not path.is_file():
        return None
    table = pq.read_table(path)
    if key not in table.column_names:
        return None
    erased = pc.is_in(table.column(key).cast(pa.string()), value_set=pa.array(sorted(wanted), pa.string()))
    keep = pc.invert(pc.fill_null(erased, False))
    if pc.all(keep).as_py():
        return None
    kept_rows = table.filter(keep)
    write_atomically(path, lambda handle: pq.write_table(kept_rows, handle))
    lines = art.dataset_lines_path(dataset_id)
    if lines.is_file():
        kept = np.load(lines)[keep.to_numpy(zero_copy_only=False)]
        write_atomically(lines, lambda handle: np.save(handle, kept, allow_pickle=False))
    return len(kept_rows)


def _scrub_outputs(art: ArtifactStore, folder: Path, columns: dict[str, set[str]], done: Erasure) -> None:
    """A run's output files: tables rewritten without the erased rows (``columns``: column -> erased values);
    the model of a run that held them, and JSON naming them, deleted."""
    if not folder.is_dir():
        return
    held = False
    named = set().union(*columns.values())
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix in TABLES and _rewrite_table(path, columns):
            done.rewritten.append(_relative(art, path))
            held = True
        elif path.suffix == ".json" and _names_a_key(path, named):
            path.unlink()
            done.deleted.append(_relative(art, path))
    model = folder / "model.zip"
    if held and model.is_file():
        model.unlink()
        done.deleted.append(_relative(art, model))


def _rewrite_table(path: Path, columns: dict[str, set[str]]) -> bool:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str,
                                                                                 keep_default_na=False)
    erased = np.zeros(len(frame), dtype=bool)
    for column, values in columns.items():
        if column in frame.columns and values:
            erased |= frame[column].astype(str).isin(values).to_numpy()
    if not erased.any():
        return False
    kept = frame[~erased].reset_index(drop=True)
    if path.suffix == ".parquet":
        write_atomically(path, lambda handle: kept.to_parquet(handle, index=False))
    else:  # as published: write_table neutralised formula-like cells, read back raw here and written alike
        temporary = path.with_name(f".erasing-{path.name}")
        kept.to_csv(temporary, index=False)
        temporary.replace(path)
    return True


def _names_a_key(path: Path, wanted: set[str]) -> bool:
    text = path.read_text(encoding="utf-8", errors="replace")
    return any(json.dumps(k) in text for k in wanted)


def _scrub_rows(db: Database, theirs: dict[str, set[str]]) -> int:
    """Labels and labeling-set members naming the keys (each transform's own), and stored idempotent answers
    echoing them."""
    deleted = 0
    with db.session() as session:
        for tid, wanted in theirs.items():
            keys = sorted(wanted)
            result = session.execute(delete(Label).where(Label.transform_id == tid, Label.record_key.in_(keys)))
            deleted += int(getattr(result, "rowcount", 0) or 0)
            for labeling_set in session.scalars(select(LabelingSet).where(LabelingSet.transform_id == tid)):
                members = [k for k in labeling_set.record_keys if k not in wanted]
                if len(members) != len(labeling_set.record_keys):
                    labeling_set.record_keys = members
                    if any(json.dumps(k) in json.dumps(labeling_set.reason) for k in keys):
                        labeling_set.reason = {"note": "records of this set were erased"}
                    labeling_set.gold_labels = _without(labeling_set.gold_labels, wanted)
                    if labeling_set.consolidation:
                        labeling_set.consolidation = {"note": "records of this set were erased"}
                plan = auto_completion.without_keys(labeling_set.machine_plan, wanted)
                if plan is not labeling_set.machine_plan:
                    labeling_set.machine_plan = plan
            result = session.execute(delete(LabelAnswer).where(LabelAnswer.transform_id == tid,
                                                               LabelAnswer.record_key.in_(keys)))
            deleted += int(getattr(result, "rowcount", 0) or 0)
            _scrub_history(session, tid, wanted)
        named = [json.dumps(k) for k in sorted(set().union(*theirs.values()))]
        for row in session.scalars(select(IdempotencyKey)):
            text = json.dumps(row.body)
            if any(k in text for k in named):  # a dataset's preview holding an erased row
                session.delete(row)
    return deleted


def _without(labels: dict[str, Any] | None, wanted: set[str]) -> dict[str, Any] | None:
    return None if labels is None else {k: v for k, v in labels.items() if k not in wanted}


def _scrub_history(session: Session, transform_id: str, wanted: set[str]) -> None:
    """The audit trail is never rewritten but for this: an erased record's key leaves every event naming it, and
    an ``erase`` event says how many keys left which sets (not which: the keys themselves must go)."""
    touched: dict[str, int] = {}
    for event in session.scalars(select(LabelEvent).where(LabelEvent.transform_id == transform_id)):
        before, after = _without(event.before, wanted) or {}, _without(event.after, wanted) or {}
        if before != event.before or after != event.after:
            event.before, event.after = before, after
            touched[event.labeling_set_id] = touched.get(event.labeling_set_id, 0) + 1
    for set_id in sorted(touched):
        label_history.record(session, transform_id, set_id, label_history.MACHINE, "erasure", "erase", {}, {},
                             note="erased records were removed from this set's history")


def _relative(art: ArtifactStore, path: Path) -> str:
    return path.relative_to(art.root).as_posix()

