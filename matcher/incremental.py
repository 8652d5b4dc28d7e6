"""Matching new records against an entity store, and erasing records from it, at a cost that follows the batch.

A batch is matched in two steps, both with the store's fitted model (``Matcher.from_model``: nothing refitted):

1. **Probe.** The stored records that share a blocking block with a batch record (by the model's own rules, read
   off the store's key hashes; a block larger than the model's block limit contributes its first records only)
   are prepared with the batch, and only the candidate pairs holding a batch record are scored. The entities
   holding a stored record linked to the batch (probability at the decision threshold or above) are touched, as
   are the entities of records the batch updates (a key already in the store is an update, not an error).
2. **Re-cluster.** The touched entities, whole, and the batch are blocked, scored and clustered as one small
   dataset under the run's decision; labeled pairs among them still constrain. A touched entity is pinned: its
   records stay together and the pairs inside it are neither scored nor clustered again (the run that stored
   it decided them; on kin_1m re-clustering large entities' insides was 26 s of a 40 s batch), so a batch
   adds records to entities and merges those it bridges. An entity whose record the batch updates is not
   pinned: its evidence changed, it is re-clustered whole and may split. ``matcher.stable_ids`` then gives
   each resulting cluster its id: untouched entities keep theirs without being looked at.

Both steps prepare their rows with the whole store's statistics (``matcher.reference``) and with each record's
best scores over the whole, so a record gets the features and scores a one-shot run would give it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from matcher import column_types
from matcher.blocking import BlockingBudget
from matcher.decision import Decision
from matcher.entity_store import Segment, StoreContents, StoreError, table_of
from matcher.errors import InputError, shown_all
from matcher.model_file import SavedModel, load_model, model_bytes
from matcher.pipeline import Matcher
from matcher.prepare import prepare
from matcher.reference import Reference, Subset
from matcher.results import MatchResult
from matcher.stable_ids import Reconciled, reconcile
from matcher.table import PreparedTable

GOLDEN_RATIO_64 = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Outcome:
    """What a run did: the new store contents, the rows to output, and the changes."""

    contents: StoreContents
    records: pd.DataFrame  # the run's rows with match_id and match_confidence_score
    changes: pd.DataFrame  # one row per entity touched (``matcher.stable_ids``)
    record_changes: pd.DataFrame  # key, old_match_id, new_match_id for every record whose id changed
    stats: dict[str, Any]


# -- a full run ------------------------------------------------------------------------------------------------

def store_from_fit(fitted: Matcher, result: MatchResult, decision: Decision, previous: StoreContents | None,
                   created_by: str = "match") -> Outcome:
    """The store after a full run: its clusters reconciled with ``previous`` (if any) by the stable-id rules."""
    table, key = fitted.table_, fitted.settings_.primary_key
    if not table.keep_index:  # a fit made without the store's index (e.g. cached by the service): prepared again
        missing = [c.name for c in fitted.settings_.data_columns if c.name not in fitted.records_.columns]
        if missing:
            raise ValueError(f"the fitted matcher holds its keys only, not the columns {missing}: give it its rows")
        table = prepare(fitted.records_, fitted.settings_, keep_index=True)
    keys = fitted.records_[key].astype(str)
    labels = pd.factorize(result.records["match_id"])[0]
    if previous is None:
        old, before, next_id = np.full(len(keys), -1, dtype=np.int64), {}, 1
    else:
        if previous.primary_key != key:
            raise StoreError(f"the store's primary key is {previous.primary_key!r}, not {key!r}")
        at = pd.Index(previous.keys.astype(str)).get_indexer(keys)
        old = np.where(at >= 0, previous.ids[np.maximum(at, 0)], -1)
        before, next_id = _sizes(previous.ids), previous.next_id
    done = reconcile(old, labels, before, next_id)
    hashes = pd.DataFrame({k: table.key_hashes[k] for k in _rule_keys(fitted.blocker_.rules_)})
    contents = StoreContents(
        primary_key=key, source_column=fitted.settings_.source_column, table=table_of(fitted.records_),
        segments=[Segment.new(len(keys))],
        ids=done.ids, scores=result.records["match_confidence_score"].to_numpy(dtype=np.float64),
        hashes=hashes, best=np.column_stack(fitted.best_).astype(np.float32),
        reference=Reference(table.n, dict(table.placeholders), dict(table.doc_freq), int(len(np.unique(labels)))),
        next_id=done.next_id, model=model_bytes(fitted), created_by=created_by, decision=asdict(decision))
    version = (previous.version if previous is not None else 0) + 1
    _carry_history(contents, previous, done.changes, version)
    out = result.records.copy()
    out["match_id"] = done.ids
    return Outcome(contents, out, done.changes, _record_changes(keys, old, done.ids), result.stats)


# -- a batch ---------------------------------------------------------------------------------------------------

def match_batch(store: StoreContents, batch: pd.DataFrame, decision: Decision | None = None,
                created_by: str = "match-incremental") -> Outcome:
    """The store with ``batch`` matched into it (see the module docstring)."""
    model = load_model(store.model)
    batch = _batch_rows(store, batch, model)
    key = store.primary_key
    at = pd.Index(store.keys.astype(str)).get_indexer(batch[key])
    updated = at >= 0
    kept = np.ones(len(store.ids), dtype=bool)
    kept[at[updated]] = False
    reference, batch_hashes = _reference_with(store, model, batch, ~kept)
    decision = decision or Decision(**store.decision)

    probe_rows = _probe_rows(store, model, batch_hashes, kept)
    probe = _subset_matcher(model, store, probe_rows, batch, reference, touching_batch=True)
    t = decision.threshold(probe.balanced_threshold_)
    touched = _linked_entities(store, probe, probe_rows, t) | set(store.ids[~kept].tolist())
    best = store.best.copy()
    stored_best = np.column_stack(probe.best_)[:len(probe_rows)]
    best[probe_rows] = np.maximum(best[probe_rows], stored_best)
    batch_best = np.column_stack(probe.best_)[len(probe_rows):]

    rows = np.flatnonzero(kept & np.isin(store.ids, list(touched)))
    floor = np.vstack([best[rows], batch_best])
    # a stored entity the batch joins or merges with keeps its inside (pinned); one whose record the batch
    # updates is re-clustered whole (its evidence changed). One-to-one links are never pinned: a batch record
    # may be a stored record's better partner (DBLP-ACM in 10 batches: 0.9855 free, 0.9772 pinned), and their
    # entities are pairs, cheap to re-cluster
    one = probe.links_one_to_one if decision.one_to_one is None else bool(decision.one_to_one)
    pinned = None
    if not (one and store.source_column):
        free = set(store.ids[~kept].tolist())
        pinned = np.r_[np.where(np.isin(store.ids[rows], list(free)), -1, store.ids[rows]),
                       np.full(len(batch), -1)]
    matcher = _subset_matcher(model, store, rows, batch, reference, best_floor=floor, pinned=pinned)
    result = matcher.predict(decision)
    labels = pd.factorize(result.records["match_id"])[0]
    old = np.r_[store.ids[rows], np.where(updated, store.ids[np.maximum(at, 0)], -1)]
    # an update is its old version leaving its entity and its new version arriving: the new version does not
    # vote for its old entity's id (a record moved to another entity must not carry its old id along)
    done = reconcile(np.r_[store.ids[rows], np.full(len(batch), -1)], labels, _sizes(store.ids, touched),
                     store.next_id)

    # store positions of the batch's rows: an update keeps its record's place, a new record comes last
    position = np.where(updated, at, len(store.ids) + np.cumsum(~updated) - 1)
    contents = _updated_contents(store, batch, position, rows, done, result, best, batch_best, batch_hashes,
                                 reference, created_by, decision)
    _carry_history(contents, store, done.changes, store.version + 1)
    out = batch.copy()
    out["match_id"] = done.ids[len(rows):]
    out["match_confidence_score"] = result.records["match_confidence_score"].to_numpy()[len(rows):]
    stats = {"batch_records": len(batch), "updated_records": int(updated.sum()),
             "probed_records": int(len(probe_rows)), "probe_pairs": int(len(probe.candidates_)),
             "touched_entities": len(touched), "reclustered_records": int(len(rows) + len(batch)),
             "candidate_pairs": int(len(matcher.candidates_)), "threshold": t,
             "store_records": len(contents.ids), "store_entities": contents.reference.entities}
    return Outcome(contents, out, done.changes, _record_changes(result.records[key], old, done.ids), stats)


def _batch_rows(store: StoreContents, batch: pd.DataFrame, model: SavedModel) -> pd.DataFrame:
    key = store.primary_key
    if key not in batch.columns:
        raise InputError(f"the batch has no primary key column {key!r}; its columns are: "
                         f"{shown_all(list(map(str, batch.columns)))}")
    missing = [c for c in store.columns if c not in batch.columns]
    extra = [c for c in batch.columns if c not in store.columns]
    if missing or extra:
        raise InputError("the batch's columns differ from the store's: "
                         + "; ".join(f"{what} {shown_all(cols)}" for what, cols in
                                     (("missing", missing), ("not in the store", extra)) if cols))
    model.require_columns(batch.columns)
    out = batch[store.columns].reset_index(drop=True)
    out[key] = out[key].astype(str)
    if out[key].duplicated().any():
        raise InputError(f"primary key {key!r} is not unique in the batch: "
                         f"{shown_all(out.loc[out[key].duplicated(), key].unique().tolist())}")
    return out


def _reference_with(store: StoreContents, model: SavedModel, batch: pd.DataFrame, replaced: np.ndarray
                    ) -> tuple[Reference, dict[str, np.ndarray]]:
    """The whole's statistics once the batch is in (and the records it updates are out), and the batch's key
    hashes."""
    scale = Reference(store.reference.n + len(batch) - int(replaced.sum()), store.reference.placeholders, {},
                      store.reference.entities)
    added = prepare(batch, model.settings, reference=scale, keep_index=True)
    removed = prepare(store.rows(np.flatnonzero(replaced)), model.settings, reference=scale,
                      keep_index=True).doc_freq if replaced.any() else {}
    reference = store.reference.with_rows(added.doc_freq, removed, len(batch), int(replaced.sum()),
                                          store.reference.entities)
    return reference, added.key_hashes


def _rule_keys(rules: list[Any]) -> list[str]:
    return sorted({k for rule in rules if rule.used for k in rule.keys})


def _rule_hashes(columns: list[np.ndarray]) -> np.ndarray:
    """One hash per row for a conjunction of keys, 0 where any is missing."""
    out = columns[0].astype(np.uint64)
    for other in columns[1:]:
        with np.errstate(over="ignore"):
            out = np.where((out == 0) | (other == 0), np.uint64(0), out * GOLDEN_RATIO_64 + other.astype(np.uint64))
    return out


def _probe_rows(store: StoreContents, model: SavedModel, batch_hashes: dict[str, np.ndarray],
                kept: np.ndarray) -> np.ndarray:
    """Stored rows (still kept) sharing a block of a used rule with a batch record; at most the model's block
    limit per block (a larger block is one of few values shared by many: its first records stand for it)."""
    limit = BlockingBudget.from_tradeoff(model.settings.accuracy_cost_tradeoff, len(store.ids)).max_block_size
    rules = [r for r in model.rules if r.used and all(k in store.hashes.columns and k in batch_hashes for k in r.keys)]
    # each key matched once, by a hash lookup (np.isin sorts the whole column); a conjunction is looked at only on
    # the rows that share each of its keys with the batch
    shares = {}
    for key in {k for rule in rules for k in rule.keys}:
        wanted = batch_hashes[key]
        shares[key] = pd.Series(store.hashes[key].to_numpy()).isin(wanted[wanted != 0]).to_numpy() & kept
    found = []
    for rule in rules:
        rows = np.flatnonzero(np.logical_and.reduce([shares[k] for k in rule.keys]))
        wanted = _rule_hashes([batch_hashes[k] for k in rule.keys])
        stored = _rule_hashes([store.hashes[k].to_numpy()[rows] for k in rule.keys])
        match = pd.Series(stored).isin(wanted[wanted != 0]).to_numpy()
        hit, values = rows[match], stored[match]
        order = np.argsort(values, kind="stable")
        starts = np.r_[True, values[order][1:] != values[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
        rank = np.arange(len(order)) - np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
        found.append(hit[order][rank < limit])
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def _subset_matcher(model: SavedModel, store: StoreContents, rows: np.ndarray, batch: pd.DataFrame,
                    reference: Reference, touching_batch: bool = False,
                    best_floor: np.ndarray | None = None, pinned: np.ndarray | None = None) -> Matcher:
    """The model applied to stored ``rows`` followed by the batch's rows."""
    records = pd.concat([store.rows(rows), batch], ignore_index=True)
    records[store.primary_key] = records[store.primary_key].astype(str)
    touching = np.r_[np.zeros(len(rows), dtype=bool), np.ones(len(batch), dtype=bool)] if touching_batch else None
    floor = [best_floor[:, k] for k in range(best_floor.shape[1])] if best_floor is not None else \
        [np.r_[store.best[rows, k], np.full(len(batch), -np.inf, dtype=np.float32)]
         for k in range(store.best.shape[1])]
    return Matcher.from_model(model, records, subset=Subset(reference, touching=touching, best_floor=floor,
                                                            pinned=pinned))


def _linked_entities(store: StoreContents, probe: Matcher, rows: np.ndarray, threshold: float) -> set[int]:
    """Entities of the stored rows linked to a batch row at ``threshold`` or above."""
    left, right, prob = probe.candidates_.left, probe.candidates_.right, probe.prob_
    strong = prob >= threshold
    stored = np.r_[left[strong & (left < len(rows))], right[strong & (right < len(rows))]]
    return set(np.unique(store.ids[rows[stored]]).tolist())


def _updated_contents(store: StoreContents, batch: pd.DataFrame, position: np.ndarray, rows: np.ndarray,
                      done: Reconciled, result: MatchResult, best: np.ndarray, batch_best: np.ndarray,
                      batch_hashes: dict[str, np.ndarray], reference: Reference, created_by: str,
                      decision: Decision) -> StoreContents:
    n, ids = len(store.ids), done.ids
    appended = position >= n
    n_new = int(appended.sum())
    table, segments = store.table, [replace(segment) for segment in store.segments]
    if (~appended).any():  # updates: their rows replaced in place, their segments rewritten
        at = position[~appended]
        bounds = np.cumsum([0] + [segment.rows for segment in segments])
        for i in set((np.searchsorted(bounds, at, side="right") - 1).tolist()):
            segments[i].changed = True
        order = np.arange(n)
        order[at] = n + np.arange(len(at))
        table = pa.concat_tables([table, table_of(batch[~appended], like=table.schema)]).take(pa.array(order))
    if n_new:
        table = pa.concat_tables([table, table_of(batch[appended], like=table.schema)])
        segments.append(Segment.new(n_new))
    new_ids = np.r_[store.ids, np.zeros(n_new, dtype=np.int64)]
    scores = np.r_[store.scores, np.zeros(n_new)]
    score = result.records["match_confidence_score"].to_numpy(dtype=np.float64)
    new_ids[rows], new_ids[position] = ids[:len(rows)], ids[len(rows):]
    scores[rows], scores[position] = score[:len(rows)], score[len(rows):]
    all_best = np.vstack([best, np.zeros((n_new, best.shape[1]), dtype=np.float32)])
    all_best[position] = batch_best
    hashes = pd.DataFrame({k: np.r_[store.hashes[k].to_numpy(), np.zeros(n_new, dtype=np.uint64)]
                           for k in store.hashes.columns})
    for k in hashes.columns:
        column = hashes[k].to_numpy(copy=True)
        column[position] = batch_hashes.get(k, np.zeros(len(batch), dtype=np.uint64))
        hashes[k] = column
    reference = replace(reference, entities=_entities_after(store, done.changes))
    return replace(store, table=table, segments=segments, ids=new_ids, scores=scores, hashes=hashes, best=all_best,
                   reference=reference, next_id=done.next_id, created_by=created_by, version=store.version + 1,
                   decision=asdict(decision))


# -- erasure ----------------------------------------------------------------------------------------------------

def forget(store: StoreContents, keys: pd.Series, created_by: str = "forget") -> Outcome:
    """The store without the records of ``keys``: their entities' remaining records re-clustered (REMOVED, SPLIT,
    SHRANK), their values gone from the model's term frequencies and labels and from the document frequencies."""
    model = load_model(store.model)
    wanted = keys.astype(str).drop_duplicates()
    at = pd.Index(store.keys.astype(str)).get_indexer(wanted)
    if (at < 0).any():
        raise InputError(f"{int((at < 0).sum())} key(s) are not in the store: "
                         f"{shown_all(wanted[at < 0].tolist())}")
    removed = np.zeros(len(store.ids), dtype=bool)
    removed[at] = True
    gone = store.rows(np.flatnonzero(removed))
    scale = replace(store.reference, doc_freq={})
    erased = prepare(gone, model.settings, reference=scale, keep_index=True)
    reference = store.reference.with_rows({}, erased.doc_freq, 0, len(gone), store.reference.entities)
    touched = set(store.ids[removed].tolist())
    rows = np.flatnonzero(~removed & np.isin(store.ids, list(touched)))
    empty = store.rows(np.zeros(0, dtype=np.int64))
    labels, score = np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(rows):
        matcher = _subset_matcher(model, store, rows, empty, reference, best_floor=store.best[rows])
        result = matcher.predict(Decision(**store.decision))
        labels = pd.factorize(result.records["match_id"])[0]
        score = result.records["match_confidence_score"].to_numpy(dtype=np.float64)
    done = reconcile(store.ids[rows], labels, _sizes(store.ids, touched), store.next_id)
    ids, scores = store.ids.copy(), store.scores.copy()
    ids[rows], scores[rows] = done.ids, score
    kept = ~removed
    contents = replace(
        store, table=store.table.filter(pa.array(kept)), segments=_segments_kept(store.segments, kept),
        ids=ids[kept], scores=scores[kept],
        hashes=store.hashes[kept].reset_index(drop=True), best=store.best[kept],
        reference=replace(reference, entities=_entities_after(store, done.changes)), next_id=done.next_id,
        model=model.erased(set(wanted), _values_no_longer_held(model, erased, store, kept)),
        created_by=created_by, version=store.version + 1)
    _carry_history(contents, store, done.changes, store.version + 1)
    key = store.primary_key
    records = pd.DataFrame({key: wanted.to_numpy(dtype=object)})
    return Outcome(contents, records, done.changes,
                   _record_changes(pd.concat([store.keys[rows], gone[key]], ignore_index=True).rename(key),
                                   np.r_[store.ids[rows], store.ids[removed]],
                                   np.r_[done.ids, np.full(len(gone), -1)]),
                   {"erased_records": len(gone), "touched_entities": len(touched),
                    "reclustered_records": int(len(rows))})


def _segments_kept(segments: list[Segment], kept: np.ndarray) -> list[Segment]:
    """The segments once the rows not ``kept`` are gone: those that lost rows are rewritten, empty ones dropped."""
    out, start = [], 0
    for segment in segments:
        rows = int(kept[start:start + segment.rows].sum())
        start += segment.rows
        if rows:
            out.append(Segment(segment.id, rows, segment.changed or rows < segment.rows))
    return out


def _values_no_longer_held(model: SavedModel, erased: PreparedTable, store: StoreContents, kept: np.ndarray
                           ) -> dict[str, set[str]]:
    """Per term-frequency column, the erased records' normalised values that no remaining record holds."""
    out = {}
    for column in model.term_frequencies:
        theirs = set(map(str, erased.uniques.get(column, [])))
        if not theirs:
            continue
        settings = next(c for c in model.settings.data_columns if c.name == column)
        remaining = pd.Series(store.table.column(column).filter(pa.array(kept)).to_numpy(zero_copy_only=False),
                              dtype=object)
        still = set(map(str, column_types.of(settings).normaliser(remaining).dropna().unique()))
        out[column] = theirs - still
    return out


# -- shared ----------------------------------------------------------------------------------------------------

def _sizes(ids: np.ndarray, only: set[int] | None = None) -> dict[int, int]:
    """Records per entity id (of the ids in ``only`` when given: a batch touches few of a million)."""
    if only is not None:
        ids = ids[pd.Series(ids).isin(list(only)).to_numpy()]
    values, counts = np.unique(ids, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _entities_after(store: StoreContents, changes: pd.DataFrame) -> int:
    """The store's entity count after ``changes``: new ids in, absorbed and removed ones out (no pass over the
    store's million ids)."""
    change = changes["change"]
    gone = (change == "REMOVED") | ((change == "MERGED") & (changes["records_after"] == 0))
    return int(store.reference.entities + (change == "NEW").sum() - gone.sum())


def _carry_history(contents: StoreContents, previous: StoreContents | None, changes: pd.DataFrame,
                   version: int) -> None:
    """The history and the merge table of ``previous`` with this run's changes added."""
    stamped = changes.assign(version=version)[["version", *changes.columns]]
    absorbed = changes[(changes["change"] == "MERGED") & (changes["records_after"] == 0)]
    merged = pd.DataFrame({"match_id": absorbed["match_id"].to_numpy(dtype=np.int64),
                           "merged_into": absorbed["related_ids"].astype(np.int64).to_numpy()})
    if previous is not None:
        stamped = pd.concat([previous.history, stamped], ignore_index=True) if len(previous.history) else stamped
        merged = pd.concat([previous.merged, merged], ignore_index=True) if len(previous.merged) else merged
    contents.history = stamped.reset_index(drop=True)
    contents.merged = merged.reset_index(drop=True)


def _record_changes(keys: pd.Series, old: np.ndarray, new: np.ndarray) -> pd.DataFrame:
    changed = old != new
    return pd.DataFrame({keys.name or "key": keys.to_numpy(dtype=object)[changed],
                         "old_match_id": pd.Series(old[changed], dtype="Int64").where(old[changed] >= 0).array,
                         "new_match_id": new[changed]})
