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

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matcher.explain import contributions
from matcher.pipeline import Matcher
from services.config import Config
from services.errors import NotFound
from services.task_runs import get_run
from storage.artifacts import ArtifactStore
from storage.db import Database

PAIRS_FILE = "pairs.parquet"
MATCHES_FILE = "matches.parquet"
PAIRS_MIN_PROBABILITY = 0.05
EXPLAINED_PAIRS = 20_000
CONTRIBUTION = "_contribution"


@dataclass(frozen=True)
class ClusterPairs:
    run_id: str
    match_id: str
    pairs: list[dict[str, Any]]


def within_clusters(matcher: Matcher, records: pd.DataFrame) -> pd.DataFrame:
    """Scored candidate pairs whose two records ended in the same cluster (``records``: the run's output, in
    the matcher's row order), ``match_id`` first so a reader can filter one cluster, strongest first."""
    match = records["match_id"].astype(str).to_numpy(dtype=object)
    cand, prob = matcher.candidates_, matcher.prob_
    rows = np.flatnonzero((prob >= PAIRS_MIN_PROBABILITY) & (match[cand.left] == match[cand.right]))
    keys = records[matcher.settings_.primary_key].astype(str).to_numpy(dtype=object)
    frame = pd.DataFrame({"match_id": match[cand.left[rows]], "key_a": keys[cand.left[rows]],
                          "key_b": keys[cand.right[rows]], "match_probability": np.round(prob[rows], 6)})
    explained = _review_order(frame, records)[:EXPLAINED_PAIRS]
    weights = contributions(matcher, cand.subset(rows[explained])) if len(explained) else {}
    for column in matcher.settings_.data_columns:
        values = np.full(len(frame), np.nan)
        if len(explained):
            values[explained] = np.round(weights[column.name], 4)
        frame[f"{column.name}{CONTRIBUTION}"] = values
    return frame.sort_values("match_probability", ascending=False, kind="stable").reset_index(drop=True)


def _review_order(frame: pd.DataFrame, records: pd.DataFrame) -> np.ndarray:
    """Positions of the pairs ordered as the Matches page lists clusters: largest, then least confident."""
    per_cluster = records.groupby(records["match_id"].astype(str))["match_confidence_score"]
    size = frame["match_id"].map(per_cluster.size()).to_numpy()
    mean = frame["match_id"].map(per_cluster.mean()).to_numpy()
    return np.lexsort((frame["match_id"].to_numpy(dtype=object).astype(str), mean, -size))


def cluster_pairs(config: Config, db: Database, run_id: str, match_id: str) -> ClusterPairs:
    """One cluster's pairs, strongest first; 404 names the run, the cluster or the file that is missing."""
    folder = _pairs_folder(config, db, run_id)
    frame = pd.read_parquet(folder / PAIRS_FILE, filters=[("match_id", "==", match_id)])
    if frame.empty and not _is_cluster(folder / MATCHES_FILE, match_id):
        raise NotFound(f"task run {run_id} has no cluster with match_id {match_id!r}")
    return ClusterPairs(run_id, match_id, [_pair_json(row) for row in frame.to_dict("records")])


def _pairs_folder(config: Config, db: Database, run_id: str) -> Path:
    run = get_run(db, run_id)
    if run.type != "FIND_MATCHES":
        raise NotFound(f"task run {run_id} is a {run.type} run: cluster pairs come from FIND_MATCHES runs")
    if run.status != "SUCCEEDED":
        raise NotFound(f"task run {run_id} is {run.status}: its clusters exist once it has SUCCEEDED")
    folder = ArtifactStore(config.data_dir).output_dir(run_id)
    if not (folder / PAIRS_FILE).is_file():
        raise NotFound(f"task run {run_id} has no {PAIRS_FILE} (it predates explained pairs): "
                       "run FIND_MATCHES again")
    return folder


def _is_cluster(matches: Path, match_id: str) -> bool:
    """A lone record is a cluster without pairs; anything else unknown is a 404."""
    if not matches.is_file():
        return False
    found = pd.read_parquet(matches, columns=["match_id"], filters=[("match_id", "==", match_id)])
    return not found.empty


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
