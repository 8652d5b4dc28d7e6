"""A FIND_MATCHES run's clusters explained: the scored pairs inside each cluster with per-column contributions.

The run publishes ``pairs.parquet`` beside ``matches.csv`` (``within_clusters`` builds it in the worker); the
web process reads one cluster's rows back from it (``cluster_pairs``), never refitting the model.

Only candidate pairs the model scored at least ``PAIRS_MIN_PROBABILITY`` are listed (as ``matcher match
--pairs-output``): pairs that weak inside a cluster are rare (none of 1,010 on the people example once
labeled). Pairs clustering completed without blocking proposing them are not listed either.

Under a classifier a contribution costs one model evaluation per column per pair (an ablation), so only the
first ``EXPLAINED_PAIRS`` pairs in the Matches page's order (largest clusters first, then least confident)
get contributions; the others keep their probability and null contributions. At 1M records there are ~500k
pairs inside clusters: explaining them all would take minutes longer than the whole run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.errors import shown
from matcher.explain import ablation_contributions, ablation_matrix, contributions
from matcher.pipeline import Matcher
from services import run_types
from services.config import Config
from services.errors import NotFound, ValidationError
from services.fanout import OddsOf, Pending, Ready, in_process
from services.task_runs import get_run
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.run_status import RunStatus

PAIRS_FILE = "pairs.parquet"
CLUSTERS_FILE = "clusters.parquet"
PAGE_MAX = 500  # clusters per page
MAX_OFFSET = 2**31 - 1  # far past any run's clusters, and offset + limit stays inside the Parquet filter's int64
MATCHES_FILE = "matches.parquet"
STATS_FILE = "stats.json"
PAIRS_MIN_PROBABILITY = 0.05
EXPLAINED_PAIRS = 20_000
CONTRIBUTION = "_contribution"


@dataclass(frozen=True)
class ClusterPairs:
    run_id: str
    match_id: str
    pairs: list[dict[str, Any]]


def within_clusters(matcher: Matcher, records: pd.DataFrame, ranks: ClusterRanks | None = None) -> pd.DataFrame:
    """Scored candidate pairs whose two records ended in the same cluster (``records``: the run's output, in
    the matcher's row order), ``match_id`` first so a reader can filter one cluster, strongest first."""
    return explain_clusters(matcher, records, ranks).resolve()


def explain_clusters(matcher: Matcher, records: pd.DataFrame, ranks: ClusterRanks | None = None,
                     odds_of: OddsOf = in_process) -> ExplainedPairs:
    """``within_clusters`` whose contributions may still be computed elsewhere (``odds_of`` may hand the
    ablations out to other workers): ``resolve()`` gives the frame."""
    ranks = ranks or ClusterRanks.of(records)
    cand, prob = matcher.candidates_, matcher.prob_
    rows = np.flatnonzero((prob >= PAIRS_MIN_PROBABILITY) & (ranks.codes[cand.left] == ranks.codes[cand.right]))
    left, right = cand.left[rows], cand.right[rows]
    keys = records[matcher.settings_.primary_key].astype(str).to_numpy(dtype=object)
    frame = pd.DataFrame({"match_id": ranks.match_ids[ranks.codes[left]], "key_a": keys[left],
                          "key_b": keys[right], "match_probability": np.round(prob[rows], 6)})
    explained = np.argsort(ranks.rank_of[ranks.codes[left]], kind="stable")[:EXPLAINED_PAIRS]
    features = cand.subset(rows[explained])
    if matcher.classifier_ is None or not len(explained):
        return ExplainedPairs(matcher, frame, explained, Ready(np.empty(0)), contributions(matcher, features))
    odds = odds_of(matcher.classifier_, ablation_matrix(matcher, features))
    return ExplainedPairs(matcher, frame, explained, odds)


@dataclass
class ExplainedPairs:
    """pairs.parquet in the making: the pairs are known, their contributions may still be on their way."""

    matcher: Matcher
    frame: pd.DataFrame
    explained: np.ndarray  # rows of ``frame`` that get contributions
    odds: Pending  # the classifier's log2 odds of the ablation matrix of the explained pairs
    weights: dict[str, np.ndarray] | None = None  # already known (unsupervised model, or nothing to explain)

    def resolve(self) -> pd.DataFrame:
        weights = self.weights
        if weights is None:
            weights = ablation_contributions(self.matcher, self.odds.result())
        frame = self.frame
        for column in self.matcher.settings_.data_columns:
            values = np.full(len(frame), np.nan)
            if len(self.explained):
                values[self.explained] = np.round(weights[column.name], 4)
            frame[f"{column.name}{CONTRIBUTION}"] = values
        return frame.sort_values("match_probability", ascending=False, kind="stable").reset_index(drop=True)

    def discard(self) -> None:
        self.odds.discard()


@dataclass(frozen=True)
class ClusterRanks:
    """Clusters in the Matches page's review order: largest first, then the least confident (mean
    match_confidence_score ascending), then match_id. Integer codes per record, so that 1M records take
    a fraction of a second (grouping by the match_id strings took seconds)."""

    codes: np.ndarray  # per record: its cluster's code
    match_ids: np.ndarray  # code -> match_id (str)
    rank_of: np.ndarray  # code -> review rank, or a number past every rank for a lone record

    @classmethod
    def of(cls, records: pd.DataFrame) -> ClusterRanks:
        ids = records["match_id"]  # the entity store's integers, or the smallest keys of runs before it
        codes, uniques = pd.factorize(ids.to_numpy() if pd.api.types.is_integer_dtype(ids) else
                                      ids.astype(str).to_numpy(dtype=object))
        match_ids = np.asarray(uniques)
        confidence = pd.to_numeric(records["match_confidence_score"], errors="coerce").to_numpy(dtype=float)
        size = np.bincount(codes, minlength=len(match_ids))
        total = np.bincount(codes, weights=np.nan_to_num(confidence, nan=np.inf), minlength=len(match_ids))
        mean = total / np.maximum(size, 1)  # inf when a member has no score: after every scored cluster
        clustered = np.flatnonzero(size >= 2)
        order = clustered[np.lexsort((match_ids[clustered].astype(str), mean[clustered], -size[clustered]))]
        rank_of = np.full(len(match_ids), len(match_ids), dtype=np.int64)
        rank_of[order] = np.arange(len(order))
        return cls(codes, match_ids, rank_of)


def review_table(records: pd.DataFrame | pa.Table, ranks: ClusterRanks | None = None) -> pd.DataFrame | pa.Table:
    """The records of clusters of two or more in review order, with their ``cluster_rank`` (published by
    FIND_MATCHES as clusters.parquet, so the Matches page reads one page of clusters, not a 1M-row CSV).
    ``records`` may be the run's output already converted to Arrow (then ``ranks`` is required)."""
    if ranks is None:
        if not isinstance(records, pd.DataFrame):
            raise TypeError("review_table needs the ranks of records given as Arrow")
        ranks = ClusterRanks.of(records)
    rank = ranks.rank_of[ranks.codes]
    inside = np.flatnonzero(rank < len(ranks.match_ids))
    inside = inside[np.argsort(rank[inside], kind="stable")]
    if isinstance(records, pa.Table):  # pandas' schema metadata would not list the new column
        table = records.take(pa.array(inside)).replace_schema_metadata(None)
        return table.add_column(0, "cluster_rank", pa.array(rank[inside]))
    frame = records.iloc[inside].reset_index(drop=True)
    frame.insert(0, "cluster_rank", rank[inside])
    return frame


@dataclass(frozen=True)
class ClusterPage:
    run_id: str
    offset: int
    limit: int
    total_clusters: int
    records_in_clusters: int
    columns: list[str]
    clusters: list[dict[str, Any]]
    warning: str | None = None  # the run's cold-start warning (matcher.cold_start), shown above its clusters


def list_clusters(config: Config, db: Database, run_id: str, offset: int, limit: int) -> ClusterPage:
    """One page of a FIND_MATCHES run's clusters in review order, each with its records."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationError(f"offset must be from 0 to {MAX_OFFSET}, got {shown(offset)}", field="offset")
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationError(f"limit must be from 1 to {PAGE_MAX}, got {shown(limit)}", field="limit")
    path = _outputs_folder(config, db, run_id) / CLUSTERS_FILE
    if not path.is_file():
        raise NotFound(f"task run {run_id} has no {CLUSTERS_FILE} (it predates cluster pages): run FIND_MATCHES "
                       "again")
    ranks = pd.read_parquet(path, columns=["cluster_rank"])["cluster_rank"]
    page = pd.read_parquet(path, filters=[("cluster_rank", ">=", offset), ("cluster_rank", "<", offset + limit)])
    columns = [c for c in page.columns if c != "cluster_rank"]
    clusters = [_cluster_json(members[columns]) for _, members in page.groupby("cluster_rank", sort=True)]
    total = int(ranks.max()) + 1 if len(ranks) else 0
    return ClusterPage(run_id, offset, limit, total, len(ranks), columns, clusters, _warning(path.parent))


def _warning(folder: Path) -> str | None:
    """The cold-start warning in the run's stats.json (None when absent or unreadable: runs before it)."""
    try:
        stats = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    warning = stats.get("cold_start_warning") if isinstance(stats, dict) else None
    return warning if isinstance(warning, str) else None


def _cluster_json(members: pd.DataFrame) -> dict[str, Any]:
    confidence = pd.to_numeric(members["match_confidence_score"], errors="coerce")
    records = members.astype(object).where(members.notna(), None).to_dict("records")
    return {"match_id": str(members["match_id"].iloc[0]), "size": len(members),
            "mean_confidence": _number(confidence.mean()), "records": [{k: _text(v) for k, v in r.items()}
                                                                        for r in records]}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def cluster_pairs(config: Config, db: Database, run_id: str, match_id: str) -> ClusterPairs:
    """One cluster's pairs, strongest first; 404 names the run, the cluster or the file that is missing."""
    folder = _pairs_folder(config, db, run_id)
    wanted = _as_stored(folder / PAIRS_FILE, match_id)
    frame = pd.read_parquet(folder / PAIRS_FILE, filters=[("match_id", "==", wanted)]) if wanted is not None \
        else pd.DataFrame()
    if frame.empty and not _is_cluster(folder / MATCHES_FILE, match_id):
        raise NotFound(f"task run {run_id} has no cluster with match_id {shown(match_id)}")
    return ClusterPairs(run_id, match_id, [_pair_json(row) for row in frame.to_dict("records")])


def _pairs_folder(config: Config, db: Database, run_id: str) -> Path:
    folder = _outputs_folder(config, db, run_id)
    if not (folder / PAIRS_FILE).is_file():
        raise NotFound(f"task run {run_id} has no {PAIRS_FILE} (it predates explained pairs): "
                       "run FIND_MATCHES again")
    return folder


def _outputs_folder(config: Config, db: Database, run_id: str) -> Path:
    run = get_run(db, run_id)
    if run.type != run_types.FIND_MATCHES.name:
        raise NotFound(f"task run {run_id} is a {run.type} run: clusters come from FIND_MATCHES runs")
    if run.status != RunStatus.SUCCEEDED:
        raise NotFound(f"task run {run_id} is {run.status}: its clusters exist once it has SUCCEEDED")
    return ArtifactStore(config.data_dir).output_dir(run_id)


def _is_cluster(matches: Path, match_id: str) -> bool:
    """A lone record is a cluster without pairs; anything else unknown is a 404."""
    wanted = _as_stored(matches, match_id) if matches.is_file() else None
    if wanted is None:
        return False
    found = pd.read_parquet(matches, columns=["match_id"], filters=[("match_id", "==", wanted)])
    return not found.empty


def _as_stored(path: Path, match_id: str) -> str | int | None:
    """``match_id`` as the file stores it: an integer (entity store ids) or text; None when it cannot be one."""
    field = pq.read_schema(path).field("match_id")
    if not pa.types.is_integer(field.type):
        return match_id
    return int(match_id) if match_id.isascii() and match_id.isdigit() and len(match_id) <= 18 else None


def _pair_json(row: dict[str, Any]) -> dict[str, Any]:
    contributions = {name[: -len(CONTRIBUTION)]: _number(value) for name, value in row.items()
                     if name.endswith(CONTRIBUTION)}
    return {"key_a": str(row["key_a"]), "key_b": str(row["key_b"]),
            "probability": _number(row["match_probability"]), "contributions": contributions}


def _number(value: Any) -> float | None:
    """JSON has no NaN: a contribution the model could not compute is null."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
