"""Each transform's entity store (``matcher.entity_store``): written by its FIND_MATCHES runs, grown by its
FIND_INCREMENTAL_MATCHES runs, shrunk by erasure (``services.erasure``), read by ``services.entities``.

The store lives under ``stores/<transform_id>`` of the data directory (``storage.artifacts``). Runs change it
under the store's own write lock (an exclusive ``flock``), so two runs on one transform queue there, each reading
the version the other published; readers never lock (a version is complete before ``CURRENT`` names it).

A run publishes the store as the last step of its handler, after its last cooperative cancellation check, and
tags the version with its run id (``created_by``). A run re-delivered after its worker died between publishing
the store and committing SUCCEEDED finds its own tag on the current version and rebuilds its outputs from that
version (the batch's ids, the version's history rows) instead of matching the batch a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.decision import Decision
from matcher.entity_store import EntityStore, StoreContents
from matcher.errors import shown, shown_all
from matcher.incremental import match_batch, store_from_fit
from matcher.io import read_table
from matcher.pipeline import Matcher
from matcher.results import MatchResult
from services import run_types
from services.config import Config
from services.errors import Conflict, NotFound, ValidationError
from services.run_context import Outcome, RunContext
from storage.artifacts import ArtifactStore
from storage.models import Dataset, TaskRun, Transform
from storage.run_status import ACTIVE

CHANGES_FILE = "changes.csv"
CHANGES_PARQUET = "changes.parquet"
RECORD_CHANGES = "record_changes"  # .csv and .parquet: per record whose id changed, its old and new id


def store_of(root: ArtifactStore | Config, transform_id: str) -> EntityStore:
    store = root if isinstance(root, ArtifactStore) else ArtifactStore(root.data_dir)
    return EntityStore(store.entity_store_dir(transform_id))


def decision_for(transform: Transform) -> Decision:
    """The transform's knobs that act after the fit, as a FIND_MATCHES run applies them."""
    return Decision(precision_recall_tradeoff=float(transform.precision_recall_tradeoff),
                    enforce_labels=bool(transform.enforce_provided_labels),
                    one_to_one=None if transform.one_to_one is None else bool(transform.one_to_one))


def _tag(ctx: RunContext) -> str:
    return f"{ctx.claimed.run.type} {ctx.claimed.run.id}"


def no_store(transform_id: str) -> str:
    return (f"transform {transform_id} has no entity store yet: run FIND_MATCHES on it first (its store keeps the "
            "matched records and their stable match ids)")


# -- FIND_MATCHES -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    records: pd.DataFrame  # the run's key, match_id (the store's), match_confidence_score
    changes: pd.DataFrame
    record_changes: pd.DataFrame
    version: int

    def files(self) -> dict[str, pd.DataFrame]:
        return changelog_files(self.changes, self.record_changes)


def changelog_files(changes: pd.DataFrame, record_changes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {CHANGES_FILE: changes, CHANGES_PARQUET: changes, f"{RECORD_CHANGES}.csv": record_changes,
            f"{RECORD_CHANGES}.parquet": record_changes}


@dataclass(frozen=True)
class Beyond:
    records: pd.DataFrame | None  # the store's records beyond the dataset's, None when there are none
    version: int | None  # the store version they were read from (None: no store yet)


def records_beyond(ctx: RunContext) -> Beyond:
    """The store's records whose keys are not in the transform's dataset (added by incremental runs): a
    FIND_MATCHES re-run matches them with the dataset's, so their entities and ids survive it too."""
    store = store_of(ctx.store, ctx.transform.id)
    if not store.exists():
        return Beyond(None, None)
    key = ctx.transform.primary_key
    for _attempt in range(3):  # the key column first: most stores hold the dataset's records alone
        version = store.current_version()
        try:
            keys = store.read_records([key], version).column(0).cast(pa.string())
            mine = pa.array(ctx.record_keys()[key].astype(object).to_numpy(), pa.string())
            beyond = ~pc.is_in(keys, value_set=mine).to_numpy(zero_copy_only=False)  # pandas' isin: 50x slower
            if not beyond.any():
                return Beyond(None, version)
            rows = store.read_records(version=version).take(pa.array(np.flatnonzero(beyond)))
            return Beyond(rows.to_pandas(), version)
        except FileNotFoundError:  # pruned by an erasure meanwhile: read the version after it
            continue
    raise Conflict("the entity store changed three times while this run read it; start the run again")


def write_from_fit(ctx: RunContext, fitted: Matcher, result: MatchResult, seen: int | None) -> Stored:
    """A FIND_MATCHES run's clusters written to the transform's store, their ids reconciled with its entities
    (``matcher.stable_ids``): ids survive re-runs. A re-delivered run reconciles with its own version: same ids.
    ``seen``: the store version the run read its records beyond the dataset from (``records_beyond``); records
    an incremental run added since then would leave the store, so the run fails instead (the API refuses to
    start the two at once; this covers runs queued before that check)."""
    full = fitted.with_records(ctx.records())  # the store keeps whole rows; the cached fit holds keys only
    store = store_of(ctx.store, ctx.transform.id)
    with store.writing():
        previous = store.read() if store.exists() else None
        if previous is not None and previous.version != seen:
            _check_nothing_added(previous, full.records_[ctx.transform.primary_key])
        outcome = store_from_fit(full, result, fitted.default_decision, previous, created_by=_tag(ctx))
        ctx.progress.report("publishing the entity store", 0.94)  # the last chance to stop before it is visible
        version = store.publish(outcome.contents)
    return Stored(outcome.records, outcome.changes, outcome.record_changes, version)


def _check_nothing_added(previous: StoreContents, keys: pd.Series) -> None:
    missing = ~previous.keys.astype(str).isin(set(keys.astype(str)))
    if missing.any():
        raise Conflict(f"an incremental run added {int(missing.sum())} record(s) to the entity store while this "
                       "FIND_MATCHES run matched; nothing was published: start FIND_MATCHES again")


STORE_WRITERS = ("FIND_MATCHES", "FIND_INCREMENTAL_MATCHES")


def check_one_writer(session: Session, transform_id: str, task_type: str) -> None:
    """A FIND_MATCHES and a FIND_INCREMENTAL_MATCHES run never run at once on one transform (409): the first
    would drop from the store the records the other adds while it fits."""
    if task_type not in STORE_WRITERS:
        return
    other = next(t for t in STORE_WRITERS if t != task_type)
    active = session.scalar(select(func.count()).select_from(TaskRun).where(
        TaskRun.transform_id == transform_id, TaskRun.type == other, TaskRun.status.in_(ACTIVE)))
    if active:
        raise Conflict(f"a {other} run of this transform is active: {task_type} waits until it has ended (both "
                       "write the transform's entity store)")


# -- FIND_INCREMENTAL_MATCHES ---------------------------------------------------------------------------------


def check_batch(config: Config, session: Session, transform: Transform, params: dict[str, Any]) -> None:
    """At start (the API): the store exists (409), the batch dataset exists and has the transform's columns
    (422 naming the columns that differ, ``params.dataset_id``)."""
    if not store_of(config, transform.id).exists():
        raise Conflict(no_store(transform.id))
    dataset_id = params.get("dataset_id")
    if dataset_id is None:
        raise ValidationError("params.dataset_id is required: the id of the uploaded batch (POST /datasets)",
                              field="params.dataset_id")
    batch = session.get(Dataset, dataset_id)
    if batch is None:
        raise ValidationError(f"dataset {shown(dataset_id)} not found", field="params.dataset_id")
    expected = list(session.get_one(Dataset, transform.dataset_id).columns)
    missing = [c for c in expected if c not in batch.columns]
    extra = [c for c in batch.columns if c not in expected]
    if missing or extra:
        parts = [f"{what} {shown_all(cols)}" for what, cols in (("missing", missing), ("not in the transform's "
                                                                                       "dataset", extra)) if cols]
        raise ValidationError(f"the batch's columns differ from the transform's dataset: {'; '.join(parts)}",
                              field="params.dataset_id")


def find_incremental_matches(ctx: RunContext) -> Outcome:
    """The batch matched into the store with the stored model (``matcher.incremental.match_batch``); publishes
    the batch's rows with match_id and match_confidence_score, and the entity changelog."""
    param = run_types.FIND_INCREMENTAL_MATCHES.param("dataset_id")
    batch_id = str(param.read(ctx.params))
    path = ctx.store.dataset_path(batch_id)
    if not path.is_file():
        raise NotFound(f"the batch dataset {batch_id} has no data file; upload it again")
    ctx.progress.report("reading the batch", 0.05)
    batch = read_table(path, ctx.transform.primary_key, ctx.transform.source_column)
    store = store_of(ctx.store, ctx.transform.id)
    if not store.exists():
        raise Conflict(no_store(ctx.transform.id))
    tag = _tag(ctx)
    with store.writing():  # a second run on this transform waits here for the first to publish
        ctx.progress.report("matching the batch", 0.1)
        current = store.read()
        if current.created_by == tag:  # re-delivered after its store version was published
            records, changes, stats = _rebuilt(current, batch)
            version, before, after = current.version, store.read(current.version - 1), current
        else:
            outcome = match_batch(current, batch, _batch_decision(ctx.transform, current), created_by=tag)
            ctx.progress.report("publishing the entity store", 0.9)
            version = store.publish(outcome.contents)
            records, changes, stats = outcome.records, outcome.changes, outcome.stats
            before, after = current, outcome.contents
    counts = {str(k): int(v) for k, v in changes["change"].value_counts().items()}
    summary = {**stats, "batch_dataset_id": batch_id, "store_version": version, "changes": counts}
    return Outcome({"matches.csv": records, "matches.parquet": records, "stats.json": summary,
                    **changelog_files(changes, _record_changes(before, after))})


def _record_changes(before: StoreContents, after: StoreContents) -> pd.DataFrame:
    """Every record of ``after`` whose id is not its id in ``before`` (new records: no old id), in store order:
    computed from the two versions, so a re-delivered run rebuilds it alike."""
    keys = after.keys.astype(str)
    old = pd.Series(before.ids, index=before.keys.astype(str)).reindex(keys.to_numpy()).to_numpy()
    changed = np.isnan(old) | (old != after.ids)
    return pd.DataFrame({after.primary_key: keys.to_numpy(dtype=object)[changed],
                         "old_match_id": pd.array(old[changed], dtype="Int64"),
                         "new_match_id": after.ids[changed]})


def _batch_decision(transform: Transform, current: StoreContents) -> Decision:
    """The transform's knobs now, the store's cluster cap and link mode when the transform leaves it open."""
    stored = Decision(**current.decision)
    mine = decision_for(transform)
    return Decision(mine.precision_recall_tradeoff, mine.enforce_labels,
                    stored.one_to_one if mine.one_to_one is None else mine.one_to_one, stored.max_cluster_size)


def _rebuilt(current: StoreContents, batch: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    key = current.primary_key
    at = pd.Index(current.keys.astype(str)).get_indexer(batch[key].astype(str))
    if (at < 0).any():
        raise Conflict("the store version this run published does not hold its batch; start the run again")
    records = batch[list(current.records.columns)].reset_index(drop=True)
    records["match_id"] = current.ids[at]
    records["match_confidence_score"] = current.scores[at]
    history = current.history
    changes = history[history["version"] == current.version].drop(columns="version").reset_index(drop=True)
    return records, changes, {"batch_records": len(batch), "rebuilt_from_store": True}


def current_files(store: EntityStore, *names: str) -> tuple[int, list[pd.DataFrame]]:
    """Some parts of the current version (``EntityStore.read_part``), read without the model (a version's files
    are never rewritten; an erasure may prune the version between reading CURRENT and its files: then read
    again)."""
    for attempt in range(3):
        version = store.current_version()
        try:
            return version, [store.read_part(name, version) for name in names]
        except FileNotFoundError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
