"""Fan-out: scoring a large candidate set in partitions, on every worker that is free.

Once a classifier is trained, scoring the candidate pairs is most of a run on large data (1M records: ~1.8M
pairs, ~45 s of gradient-boosted trees on one core) and splits cleanly: each pair's probability depends only on
its own row of the design matrix. So the worker executing the run (the coordinator):

1. writes the classifier and, partition by partition, the design matrix rows as Parquet under
   ``<storage URL>/fanout/<run id>/`` (any fsspec URL: a local path by default, object storage for workers on
   several hosts), queueing one ``matcher.score_partition`` Celery task per partition as soon as its input is
   written, so idle workers start at once;
2. scores partitions itself too, claiming each with a ``flock`` under ``<data dir>/locks/fanout/`` (the same
   shared-directory requirement as the run lock): with one worker it simply does them all, and it never waits
   on a task that no worker is free to run (a coordinator blocked on its own subtasks deadlocks a lone worker);
3. waits for partitions claimed elsewhere (polling, so a cancel is noticed), scores any partition whose claimer
   died without an output, reads the probabilities back in order and removes the directory.

Outputs are written under a temporary name and renamed, so a partition is either whole or absent; scoring is
deterministic, so the result is the same as scoring in one process, whoever scored which partition.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.classifier import PairClassifier
from matcher.pipeline import Matcher
from services import run_lock
from services.config import Config

log = logging.getLogger(__name__)

Send = Callable[[str, int], None]  # queue the scoring of (run id, partition)
Report = Callable[[str, float], None]
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class FanoutSettings:
    storage_url: str  # root of the intermediate data (fsspec URL or local path)
    locks_dir: Path  # shared directory of the partition claims
    partitions: int = 8
    min_pairs: int = 300_000  # below this, one process scores faster than it could hand work out

    @classmethod
    def from_config(cls, config: Config) -> FanoutSettings:
        return cls(config.intermediate_url, config.data_dir / "locks" / "fanout", config.fanout_partitions,
                   config.fanout_min_pairs)

    def run_dir(self, run_id: str) -> tuple[Any, str]:
        """(filesystem, path) of one run's intermediate data."""
        fs, root = fsspec.core.url_to_fs(self.storage_url)
        return fs, f"{root.rstrip('/')}/fanout/{run_id}"


def bounds(n: int, partitions: int) -> list[tuple[int, int]]:
    """Contiguous, nearly equal ranges of candidate positions (their order is the output's order)."""
    edges = np.linspace(0, n, partitions + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


@contextlib.contextmanager
def claim(settings: FanoutSettings, run_id: str, partition: int) -> Iterator[bool]:
    """Try to take a partition's lock without waiting; the kernel drops it if the holder dies."""
    with run_lock.try_lock(settings.locks_dir / f"{run_id}-{partition}.lock") as held:
        yield held


def _input(directory: str, partition: int) -> str:
    return f"{directory}/input-{partition:04d}.parquet"


def _output(directory: str, partition: int) -> str:
    return f"{directory}/scores-{partition:04d}.parquet"


def _write_atomically(fs: Any, path: str, write: Callable[[Any], None]) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with fs.open(tmp, "wb") as handle:
        write(handle)
    fs.mv(tmp, path)


def _write_matrix(fs: Any, path: str, X: np.ndarray) -> None:
    table = pa.table({f"c{j}": np.ascontiguousarray(X[:, j]) for j in range(X.shape[1])})
    _write_atomically(fs, path, lambda handle: pq.write_table(table, handle, compression="lz4"))


def _read_matrix(fs: Any, path: str) -> np.ndarray:
    with fs.open(path, "rb") as handle:
        table = pq.read_table(handle)
    return np.column_stack([table.column(j).to_numpy() for j in range(table.num_columns)])


def score_partition(settings: FanoutSettings, run_id: str, partition: int) -> bool:
    """The work of one ``matcher.score_partition`` task; False when there was nothing (left) to do."""
    fs, directory = settings.run_dir(run_id)
    with claim(settings, run_id, partition) as mine:
        if not mine or not fs.exists(_input(directory, partition)) or fs.exists(_output(directory, partition)):
            return False
        _score(fs, directory, partition)
        return True


def _score(fs: Any, directory: str, partition: int) -> None:
    with fs.open(f"{directory}/classifier.pkl", "rb") as handle:
        classifier: PairClassifier = pickle.load(handle)  # noqa: S301 (written by the coordinator, our own)
    prob = classifier.predict_proba(_read_matrix(fs, _input(directory, partition)))
    table = pa.table({"probability": prob})
    _write_atomically(fs, _output(directory, partition), lambda handle: pq.write_table(table, handle))
    log.info("%s: partition %d scored by this worker (%d pairs)", directory.rsplit("/", 1)[-1], partition, len(prob))


class FanoutScorer:
    """``Matcher.refit_labels``' candidate scorer for one run (see the module docstring)."""

    def __init__(self, settings: FanoutSettings, run_id: str, send: Send, report: Report) -> None:
        self.settings, self.run_id, self.send, self.report = settings, run_id, send, report

    def __call__(self, matcher: Matcher) -> np.ndarray:
        n = len(matcher.candidates_)
        parts = bounds(n, self.settings.partitions)
        if n < self.settings.min_pairs or len(parts) < 2 or matcher.classifier_ is None:
            return matcher.score(matcher.candidates_)
        fs, directory = self.settings.run_dir(self.run_id)
        if fs.exists(directory):  # an earlier attempt's leftovers
            fs.rm(directory, recursive=True)
        fs.makedirs(directory, exist_ok=True)
        try:
            self._hand_out(matcher, fs, directory, parts)
            self._score_unclaimed(fs, directory, parts)
            return self._gather(fs, directory, parts)
        finally:
            fs.rm(directory, recursive=True)

    def _hand_out(self, matcher: Matcher, fs: Any, directory: str, parts: list[tuple[int, int]]) -> None:
        blob = pickle.dumps(matcher.classifier_, protocol=pickle.HIGHEST_PROTOCOL)
        _write_atomically(fs, f"{directory}/classifier.pkl", lambda handle: handle.write(blob))
        for p, (lo, hi) in enumerate(parts):
            X = matcher.design(matcher.candidates_.subset(np.arange(lo, hi)))
            _write_matrix(fs, _input(directory, p), X)
            self.send(self.run_id, p)
            self.report("scoring: handing out partitions", 0.1 * (p + 1) / len(parts))

    def _score_unclaimed(self, fs: Any, directory: str, parts: list[tuple[int, int]]) -> None:
        for p in range(len(parts)):
            if score_partition(self.settings, self.run_id, p):
                log.info("task run %s: scored partition %d here", self.run_id, p)
            self._report_done(fs, directory, parts)

    def _gather(self, fs: Any, directory: str, parts: list[tuple[int, int]]) -> np.ndarray:
        """Wait for partitions scored elsewhere; score those whose claimer died without an output."""
        pending = list(range(len(parts)))
        while pending:
            for p in list(pending):
                if fs.exists(_output(directory, p)):
                    pending.remove(p)
                    continue
                with claim(self.settings, self.run_id, p) as free:
                    if free:  # nobody holds it: it was scored meanwhile, or its claimer died without an output
                        if not fs.exists(_output(directory, p)):
                            _score(fs, directory, p)
                        pending.remove(p)
            self._report_done(fs, directory, parts)
            if pending:
                time.sleep(POLL_SECONDS)
        return np.concatenate([_read_scores(fs, _output(directory, p)) for p in range(len(parts))])

    def _report_done(self, fs: Any, directory: str, parts: list[tuple[int, int]]) -> None:
        done = sum(b - a for p, (a, b) in enumerate(parts) if fs.exists(_output(directory, p)))
        self.report("scoring partitions", 0.1 + 0.9 * done / parts[-1][1])


def _read_scores(fs: Any, path: str) -> np.ndarray:
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle).column("probability").to_numpy()
