"""Stable match ids across runs: which new cluster keeps which entity's id, and what happened to each entity.

The entity store keeps one integer ``match_id`` per entity. A run re-clusters some of the store's records;
:func:`reconcile` then names every new cluster by these rules:

1. Each old entity's **heir** is the new cluster holding most of its remaining records. Ties go to the larger
   new cluster, then to the cluster whose first record (smallest record position) comes first.
2. A new cluster that is the heir of one old entity takes that entity's id: records joining an entity do not
   change its id.
3. A new cluster that is the heir of several old entities (a merge) takes the id of the entity that held the most
   records before the run; ties go to the older id, i.e. the smallest number. The other entities are recorded as
   merged into it.
4. A new cluster that is nobody's heir gets a new id, never used before: ``next_id``, ``next_id + 1``, ... in the
   order of the clusters' first records. So when an entity splits, the part holding most of its records keeps the
   id and the other parts get new ids.
5. An entity whose records were all erased is REMOVED.

Every entity touched gets one row in ``changes`` (sorted by ``match_id``), except those whose membership did not
change at all (re-clustered into exactly the records it had):

* ``NEW``: a cluster with a new id; ``related_ids`` lists the old ids its records came from (parts split off
  other entities), empty when all its records are new to the store; ``records_before`` is 0.
* ``MERGED``: the surviving id of a merge (``related_ids``: the absorbed ids; ``records_after``: the size of the
  merged cluster) and one row per absorbed id (``related_ids``: the survivor; ``records_after``: 0).
* ``SPLIT``: an id that was kept, not by a merge, while some of the entity's remaining records went to other
  clusters; ``related_ids`` lists those clusters' ids.
* ``GREW`` / ``SHRANK``: an id that was kept, not merged nor split, whose cluster gained records (new ones or parts
  of other entities) or lost some to erasure: GREW when ``records_after >= records_before``, else SHRANK.
* ``REMOVED``: all its records erased; ``records_after`` is 0.

A kept id is reported as MERGED before SPLIT, and SPLIT before GREW/SHRANK. ``related_ids`` are ``;``-joined in
ascending order. ``records_before`` is the entity's size in the store before the run (erased records included);
``records_after`` is the size of the cluster now carrying the id.

Everything is vectorised over records (numpy sorts and counts); Python loops only to join the ids of a row listing
several related ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

NEW, MERGED, SPLIT, GREW, SHRANK, REMOVED = "NEW", "MERGED", "SPLIT", "GREW", "SHRANK", "REMOVED"
CHANGE_COLUMNS = ("match_id", "change", "related_ids", "records_before", "records_after")


@dataclass(frozen=True)
class Reconciled:
    ids: np.ndarray  # int64, the match id per record (same order as the inputs)
    next_id: int  # the store's counter after this call (ids below it are used)
    changes: pd.DataFrame  # one row per entity touched (CHANGE_COLUMNS), sorted by match_id


@dataclass(frozen=True)
class _Pairs:
    """Who went where: one row per (old entity, new cluster) sharing records, sorted by entity then cluster."""

    entity: np.ndarray  # index into the sorted unique old ids
    cluster: np.ndarray  # cluster code (0 = the cluster whose first record comes first)
    count: np.ndarray  # records of that entity in that cluster


def reconcile(old_ids: np.ndarray, labels: np.ndarray, before: Mapping[int, int], next_id: int) -> Reconciled:
    """Give each new cluster (``labels``) a match id by the module's rules and report the changes.

    ``old_ids`` holds each record's id in the store (-1: new to the store); ``before`` the store's record count of
    every entity touched, erased ones included; ``next_id`` the smallest id never used.
    """
    old_ids, labels = _as_int_vector(old_ids, "old_ids"), _as_int_vector(labels, "labels")
    before_ids, before_counts = _before_arrays(before)
    _validate(old_ids, labels, before_ids, before_counts, next_id)
    # factorize numbers clusters by first appearance, so code order is the order of smallest record position
    codes, uniques = pd.factorize(labels)
    codes = codes.astype(np.int64)
    sizes = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
    known = old_ids >= 0
    entity_ids, entity_of_record = np.unique(old_ids[known], return_inverse=True)
    remaining = np.bincount(entity_of_record, minlength=len(entity_ids)).astype(np.int64)
    entity_before = _lookup_before(entity_ids, remaining, before_ids, before_counts)
    pairs = _pairs(entity_of_record, codes[known], len(uniques))

    heir = _heirs(pairs, sizes, len(entity_ids))
    survivor = _survivors(heir, entity_ids, entity_before, len(uniques))
    cluster_ids, new_clusters = _cluster_ids(survivor, entity_ids, next_id)

    changes = pd.concat(
        [
            _entity_rows(pairs, heir, survivor, entity_ids, entity_before, remaining, sizes, cluster_ids),
            _removed_rows(before_ids, before_counts, entity_ids),
            _new_rows(pairs, new_clusters, entity_ids, sizes, cluster_ids),
        ],
        ignore_index=True,
    )
    changes = changes.sort_values("match_id", kind="stable", ignore_index=True)
    return Reconciled(ids=cluster_ids[codes], next_id=next_id + len(new_clusters), changes=_typed(changes))


# --- validation -------------------------------------------------------------------------------------------------


def _as_int_vector(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":  # an empty list arrives as float64 and is harmless
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _before_arrays(before: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``before`` as two int64 arrays sorted by id (a loop over entities, not records)."""
    ids = np.fromiter(before.keys(), dtype=np.int64, count=len(before))
    counts = np.fromiter(before.values(), dtype=np.int64, count=len(before))
    order = np.argsort(ids, kind="stable")
    return ids[order], counts[order]


def _validate(
    old_ids: np.ndarray, labels: np.ndarray, before_ids: np.ndarray, before_counts: np.ndarray, next_id: int
) -> None:
    if len(old_ids) != len(labels):
        raise ValueError(f"old_ids and labels differ in length: {len(old_ids)} != {len(labels)}")
    if old_ids.size and old_ids.min() < -1:
        raise ValueError(f"old_ids must be entity ids (>= 0) or -1 for a new record, found {old_ids.min()}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be non-negative cluster labels, found {labels.min()}")
    if before_ids.size and before_ids[0] < 0:
        raise ValueError(f"before must map entity ids (>= 0) to record counts, found id {before_ids[0]}")
    if before_counts.size and before_counts.min() < 0:
        raise ValueError(f"before must hold record counts (>= 0), found {before_counts.min()}")
    # a new id equal to an old one would silently fuse two entities in the store
    if before_ids.size and next_id <= before_ids[-1]:
        raise ValueError(f"next_id {next_id} is not above every id in before (largest {before_ids[-1]})")
    if next_id < 0:
        raise ValueError(f"next_id must be non-negative, got {next_id}")


def _lookup_before(
    entity_ids: np.ndarray, remaining: np.ndarray, before_ids: np.ndarray, before_counts: np.ndarray
) -> np.ndarray:
    """``before[id]`` per entity of ``old_ids``; every one must be there and hold at least its remaining records."""
    where = np.searchsorted(before_ids, entity_ids).clip(max=max(len(before_ids) - 1, 0))
    found = before_ids[where] == entity_ids if before_ids.size else np.zeros(len(entity_ids), dtype=bool)
    if not found.all():
        missing = entity_ids[~found]
        raise ValueError(f"{len(missing)} id(s) of old_ids missing from before, e.g. {missing[:5].tolist()}")
    counts = before_counts[where]
    short = counts < remaining
    if short.any():
        i = np.flatnonzero(short)[0]
        raise ValueError(
            f"before[{entity_ids[i]}] = {counts[i]} is below its {remaining[i]} record(s) in old_ids "
            f"({int(short.sum())} such id(s))"
        )
    return counts


# --- naming the clusters ------------------------------------------------------------------------------------------


def _pairs(entity_of_record: np.ndarray, cluster_of_record: np.ndarray, n_clusters: int) -> _Pairs:
    # one int64 key per (entity, cluster): both are below the number of records, so the product fits
    key = entity_of_record.astype(np.int64) * max(n_clusters, 1) + cluster_of_record
    unique_keys, counts = np.unique(key, return_counts=True)
    entity, cluster = np.divmod(unique_keys, max(n_clusters, 1))
    return _Pairs(entity=entity, cluster=cluster, count=counts.astype(np.int64))


def _first_of_groups(sorted_groups: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values."""
    first = np.ones(len(sorted_groups), dtype=bool)
    first[1:] = sorted_groups[1:] != sorted_groups[:-1]
    return first


def _heirs(pairs: _Pairs, sizes: np.ndarray, n_entities: int) -> np.ndarray:
    """Rule 1: the heir cluster of each entity: most of its records, then the larger cluster, then the first one."""
    order = np.lexsort((pairs.cluster, -sizes[pairs.cluster], -pairs.count, pairs.entity))
    first = _first_of_groups(pairs.entity[order])
    heir = np.empty(n_entities, dtype=np.int64)
    heir[pairs.entity[order][first]] = pairs.cluster[order][first]
    return heir


def _survivors(heir: np.ndarray, entity_ids: np.ndarray, entity_before: np.ndarray, n_clusters: int) -> np.ndarray:
    """Rules 2-3: per cluster, the entity whose id it takes (-1: nobody's heir); largest before, then oldest id."""
    order = np.lexsort((entity_ids, -entity_before, heir))
    first = _first_of_groups(heir[order])
    survivor = np.full(n_clusters, -1, dtype=np.int64)
    survivor[heir[order][first]] = order[first]
    return survivor


def _cluster_ids(survivor: np.ndarray, entity_ids: np.ndarray, next_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The id of every cluster, and the codes of the clusters given new ids (rule 4, in first-record order)."""
    cluster_ids = np.empty(len(survivor), dtype=np.int64)
    heirs = survivor >= 0
    cluster_ids[heirs] = entity_ids[survivor[heirs]]
    new_clusters = np.flatnonzero(~heirs)
    cluster_ids[new_clusters] = next_id + np.arange(len(new_clusters), dtype=np.int64)
    return cluster_ids, new_clusters


# --- reporting ----------------------------------------------------------------------------------------------------


def _related(groups: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per group of ``wanted``, its ``values`` ``;``-joined in ascending order ("" for none).

    Callers pass one row per (entity, cluster) pair, so a group never holds the same value twice.
    """
    keep = np.isin(groups, wanted)  # most pairs concern unchanged entities: drop them before sorting
    groups, values = groups[keep], values[keep]
    order = np.lexsort((values, groups))
    groups, values = groups[order], values[order]
    starts = np.flatnonzero(_first_of_groups(groups))
    ends = np.append(starts[1:], len(groups))
    texts = values.astype(str).astype(object)
    joined = texts[starts]
    # most groups hold one value and are done; only groups with several values are joined one by one
    for i in np.flatnonzero(ends - starts > 1):
        joined[i] = ";".join(texts[starts[i] : ends[i]])
    related = np.full(len(wanted), "", dtype=object)
    where = np.searchsorted(groups[starts], wanted)
    found = where < len(starts)
    found[found] = groups[starts][where[found]] == wanted[found]
    related[found] = joined[where[found]]
    return related


def _entity_rows(
    pairs: _Pairs,
    heir: np.ndarray,
    survivor: np.ndarray,
    entity_ids: np.ndarray,
    entity_before: np.ndarray,
    remaining: np.ndarray,
    sizes: np.ndarray,
    cluster_ids: np.ndarray,
) -> pd.DataFrame:
    """MERGED, SPLIT, GREW and SHRANK rows of the entities still holding records."""
    entities = np.arange(len(entity_ids))
    after = sizes[heir]
    absorbed = survivor[heir] != entities
    claimants = np.bincount(heir, minlength=len(sizes))  # every entity claims its heir
    merged_survivor = ~absorbed & (claimants[heir] > 1)
    # more than one cluster holds its records; the heir keeps the id, so the others are other clusters
    spread = np.bincount(pairs.entity, minlength=len(entity_ids)) > 1
    split = ~absorbed & ~merged_survivor & spread
    rest = ~absorbed & ~merged_survivor & ~split
    # not split, so every remaining record is in the heir: it gained if the cluster is bigger, lost if erased
    changed = rest & ((after > remaining) | (entity_before > remaining))

    related = np.full(len(entity_ids), "", dtype=object)
    related[absorbed] = entity_ids[survivor[heir[absorbed]]].astype(str)
    # survivors list the ids absorbed into their cluster: group the absorbed by their heir, read off per survivor
    related[merged_survivor] = _related(heir[absorbed], entity_ids[absorbed], heir[merged_survivor])
    elsewhere = pairs.cluster != heir[pairs.entity]
    related[split] = _related(pairs.entity[elsewhere], cluster_ids[pairs.cluster[elsewhere]], entities[split])

    change = np.full(len(entity_ids), "", dtype=object)
    change[changed] = np.where(after[changed] >= entity_before[changed], GREW, SHRANK)
    change[split] = SPLIT
    change[absorbed | merged_survivor] = MERGED
    rows = absorbed | merged_survivor | split | changed
    return pd.DataFrame(
        {
            "match_id": entity_ids[rows],
            "change": change[rows],
            "related_ids": related[rows],
            "records_before": entity_before[rows],
            "records_after": np.where(absorbed, 0, after)[rows],
        }
    )


def _removed_rows(before_ids: np.ndarray, before_counts: np.ndarray, entity_ids: np.ndarray) -> pd.DataFrame:
    """Rule 5: entities of ``before`` with no record left in ``old_ids``."""
    gone = ~np.isin(before_ids, entity_ids)
    return pd.DataFrame(
        {
            "match_id": before_ids[gone],
            "change": REMOVED,
            "related_ids": "",
            "records_before": before_counts[gone],
            "records_after": np.zeros(int(gone.sum()), dtype=np.int64),
        }
    )


def _new_rows(
    pairs: _Pairs, new_clusters: np.ndarray, entity_ids: np.ndarray, sizes: np.ndarray, cluster_ids: np.ndarray
) -> pd.DataFrame:
    """Rule 4's clusters, with the old ids their records were split off from."""
    return pd.DataFrame(
        {
            "match_id": cluster_ids[new_clusters],
            "change": NEW,
            "related_ids": _related(pairs.cluster, entity_ids[pairs.entity], new_clusters),
            "records_before": np.zeros(len(new_clusters), dtype=np.int64),
            "records_after": sizes[new_clusters],
        }
    )


def _typed(changes: pd.DataFrame) -> pd.DataFrame:
    """The documented column types, also for an empty report (concat of empty frames loses them)."""
    return pd.DataFrame(
        {
            "match_id": changes["match_id"].to_numpy(dtype=np.int64),
            "change": changes["change"].astype(str),  # pandas' string dtype, also when empty
            "related_ids": changes["related_ids"].astype(str),
            "records_before": changes["records_before"].to_numpy(dtype=np.int64),
            "records_after": changes["records_after"].to_numpy(dtype=np.int64),
        },
        columns=list(CHANGE_COLUMNS),
    )
