"""Fan-out: scoring a large candidate set in partitions, on every worker that is free.

Once a classifier is trained, scoring the candidate pairs is most of a run on large data (1M records: ~1.8M
pairs, ~45 s of gradient-boosted trees on one core) and splits cleanly: each pair's probability depends only on
its own row of the design matrix. So the worker executing the run (the coordinator):

1. writes the classifier (and the name of the method to apply) under ``<storage URL>/fanout/<run id>/`` (any
   fsspec URL: a local path by default, object storage for workers on several hosts) and queues one
   ``matcher.score_partition`` Celery task per partition. A partition's rows are a range of the cached fit's
   design matrix (``services.model_cache``: a file in the shared data directory) when there is one, so the
   tasks go out at once and nothing is written per run; other rows (explanations) are written partition by
   partition as Parquet beside the classifier, each queued as soon as it is written;
2. scores partitions itself too, claiming each with a ``flock`` under ``<data dir>/locks/fanout/`` (the same
   shared-directory requirement as the run lock): with one worker it simply does them all, and it never waits
   on a task that no worker is free to run (a coordinator blocked on its own subtasks deadlocks a lone worker);
3. waits for partitions claimed elsewhere (polling, so a cancel is noticed), scores any partition whose claimer
   died without an output, reads the probabilities back in order and removes the directory.

The same machinery explains the pairs inside a FIND_MATCHES run's clusters (job ``<run id>-explain``: the
boosted trees' log odds of each pair with each column ablated in turn). That job is started before the
coordinator writes the run's output files and gathered after, so another worker explains while it writes.

Outputs are written under a temporary name and renamed, so a partition is either whole or absent; scoring is
deterministic, so the result is the same as scoring in one process, whoever scored which partition.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.frozen import Classifier
from matcher.pipeline import Matcher
from services import run_lock
from services.config import Config

log = logging.getLogger(__name__)

Send = Callable[[str, int], None]  # queue the work on (job id, partition)
Report = Callable[[str, float], None]
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class FanoutSettings:
    storage_url: str  # root of the intermediate data (fsspec URL or local path)
    locks_dir: Path  # shared directory of the partition claims
    partitions: int = 8
    min_pairs: int = 300_000  # below this, one process scores faster than it could hand work out
    data_dir: Path | None = None  # the shared data directory, where ``RowsInFile`` paths start

    @classmethod
    def from_config(cls, config: Config) -> FanoutSettings:
        return cls(config.intermediate_url, config.data_dir / "locks" / "fanout", config.fanout_partitions,
                   config.fanout_min_pairs, config.data_dir)

    def spreads(self, n_pairs: int) -> bool:
        """Whether a run with this many candidate pairs hands its work out (one rule for scoring and explaining)."""
        return n_pairs >= self.min_pairs

    def run_dir(self, job_id: str) -> tuple[Any, str]:
        """(filesystem, path) of one job's intermediate data."""
        fs, root = fsspec.core.url_to_fs(self.storage_url)
        return fs, f"{root.rstrip('/')}/fanout/{job_id}"


LAST_TO_FIRST = 0.25  # the last partition's size relative to the first's


def bounds(n: int, partitions: int) -> list[tuple[int, int]]:
    """Contiguous ranges of candidate positions (their order is the output's order), tapering from large to small.
    Workers claim partitions in order, so whoever finishes first takes the small ones at the end: the last
    worker to finish waits for at most a small partition, not an average one (at 1M records, 8 equal
    partitions of ~5 s left the other worker idle ~2.5 s on average)."""
    weights = np.linspace(1.0, LAST_TO_FIRST, partitions) if partitions > 1 else np.ones(1)
    edges = np.round(np.r_[0.0, np.cumsum(weights)] / weights.sum() * n).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


@contextlib.contextmanager
def claim(settings: FanoutSettings, job_id: str, partition: int) -> Iterator[bool]:
    """Try to take a partition's lock without waiting; the kernel drops it if the holder dies."""
    with run_lock.try_lock(settings.locks_dir / f"{job_id}-{partition}.lock") as held:
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


# Intermediate floats are written once and read once: dictionary encoding and statistics only cost time (writing
# a 1M-record run's design matrix took ~1.6 s with them, ~0.2 s without)
PARQUET_OPTIONS: dict[str, Any] = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}


def _write_matrix(fs: Any, path: str, X: np.ndarray) -> None:
    table = pa.table({f"c{j}": np.ascontiguousarray(X[:, j]) for j in range(X.shape[1])})
    _write_atomically(fs, path, lambda handle: pq.write_table(table, handle, **PARQUET_OPTIONS))


def _read_matrix(fs: Any, path: str) -> np.ndarray:
    with fs.open(path, "rb") as handle:
        table = pq.read_table(handle)
    return np.column_stack([table.column(j).to_numpy() for j in range(table.num_columns)])


@dataclass(frozen=True)
class RowsInFile:
    """Partitions as row ranges of a ``.npy`` matrix that every worker can open: the cached fit's candidate
    design (``services.model_cache``) in the shared data directory, so that a run writes no input at all.
    ``path`` is relative to the data directory when inside it (another host may mount it elsewhere)."""

    path: str
    bounds: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, settings: FanoutSettings, X: np.ndarray | None, bounds: list[tuple[int, int]]
           ) -> RowsInFile | None:
        """``X``'s partitions if it is a whole ``.npy`` file mapped in memory, else None."""
        if not isinstance(X, np.memmap) or not X.filename:
            return None
        path = Path(X.filename).resolve()
        whole = np.load(path, mmap_mode="r", allow_pickle=False)
        if whole.shape != X.shape or whole.offset != X.offset:
            return None
        if settings.data_dir is not None and path.is_relative_to(settings.data_dir.resolve()):
            path = path.relative_to(settings.data_dir.resolve())
        return cls(path.as_posix(), tuple(bounds))

    def rows(self, settings: FanoutSettings, partition: int) -> np.ndarray:
        a, b = self.bounds[partition]
        path = Path(self.path) if settings.data_dir is None else settings.data_dir / self.path
        return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[a:b])


METHODS = ("predict_proba", "log2_odds")  # what a partition task may apply to its rows
JOB_FILE = "job.pkl"  # the classifier, the name of its method to apply, and where the rows are


@dataclass(frozen=True)
class Job:
    classifier: Classifier
    method: str
    source: RowsInFile | None  # None: each partition's rows are an input Parquet file in the job's directory

    def has_rows(self, fs: Any, directory: str, partition: int) -> bool:
        if self.source is None:
            return bool(fs.exists(_input(directory, partition)))
        return 0 <= partition < len(self.source.bounds)

    def rows(self, settings: FanoutSettings, fs: Any, directory: str, partition: int) -> np.ndarray:
        if self.source is None:
            return _read_matrix(fs, _input(directory, partition))
        return self.source.rows(settings, partition)


def score_partition(settings: FanoutSettings, job_id: str, partition: int) -> bool:
    """The work of one ``matcher.score_partition`` task; False when there was nothing (left) to do."""
    fs, directory = settings.run_dir(job_id)
    with claim(settings, job_id, partition) as mine:
        if not mine or fs.exists(_output(directory, partition)) or not fs.exists(f"{directory}/{JOB_FILE}"):
            return False
        if not _job(fs, directory).has_rows(fs, directory, partition):
            return False
        _score(settings, fs, directory, partition)
        return True


def _score(settings: FanoutSettings, fs: Any, directory: str, partition: int) -> None:
    start = time.perf_counter()
    job = _job(fs, directory)
    values = getattr(job.classifier, job.method)(job.rows(settings, fs, directory, partition))
    table = pa.table({"value": values})
    _write_atomically(fs, _output(directory, partition),
                      lambda handle: pq.write_table(table, handle, **PARQUET_OPTIONS))
    log.info("%s: partition %d scored by this worker (%d rows in %.2f s)", directory.rsplit("/", 1)[-1], partition,
             len(values), time.perf_counter() - start)


_last_job: tuple[bytes, Job | None] = (b"", None)  # (digest of the job file, its job) last unpickled here


def _job(fs: Any, directory: str) -> Job:
    """The job, unpickled once per process and job: unpickling the calibrated trees took ~0.07 s for each
    partition (~2-5 s of scoring at 1M records). Keyed by the file's digest (a few hundred kB), which any
    fsspec filesystem can give, unlike a modification time."""
    global _last_job
    with fs.open(f"{directory}/{JOB_FILE}", "rb") as handle:
        blob = handle.read()
    digest = hashlib.sha256(blob).digest()
    digest_seen, job = _last_job
    if digest_seen != digest or job is None:
        job = pickle.loads(blob)  # noqa: S301 (written by the coordinator, our own)
        if not isinstance(job, Job) or job.method not in METHODS:
            raise ValueError(f"not a partition job: {directory}/{JOB_FILE}")
        _last_job = (digest, job)
    return job


class PartitionedJob:
    """Rows of a matrix put through one classifier method in partitions, by every free worker (module
    docstring). ``start`` hands the partitions out and returns at once, so the coordinator may do other work
    before ``result`` (which scores what nobody took, gathers, and removes the intermediate data)."""

    def __init__(self, settings: FanoutSettings, job_id: str, send: Send, report: Report) -> None:
        self.settings, self.job_id, self.send, self.report = settings, job_id, send, report
        self.fs, self.directory = settings.run_dir(job_id)
        self.sizes: list[int] = []

    def start(self, classifier: Classifier, method: str, count: int, rows_of: Callable[[int], np.ndarray]
              ) -> PartitionedJob:
        """Write and queue partitions ``0..count-1``, whose rows ``rows_of(p)`` builds, one by one."""
        def hand_out() -> None:
            for p in range(count):
                X = rows_of(p)
                self.sizes.append(len(X))
                _write_matrix(self.fs, _input(self.directory, p), X)
                self.send(self.job_id, p)
                self.report("handing out partitions", 0.1 * (p + 1) / count)
        return self._begin(Job(classifier, method, None), hand_out)

    def start_on_file(self, classifier: Classifier, method: str, source: RowsInFile) -> PartitionedJob:
        """Queue every partition of ``source`` at once: whoever scores one reads its rows from the file."""
        def hand_out() -> None:
            self.sizes = [b - a for a, b in source.bounds]
            for p in range(len(source.bounds)):
                self.send(self.job_id, p)
            log.info("%s: %d partitions of %s handed out", self.job_id, len(source.bounds), source.path)
            self.report("handing out partitions", 0.1)
        return self._begin(Job(classifier, method, source), hand_out)

    def _begin(self, job: Job, hand_out: Callable[[], None]) -> PartitionedJob:
        self.discard()  # an earlier attempt's leftovers
        try:
            self.fs.makedirs(self.directory, exist_ok=True)
            blob = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            _write_atomically(self.fs, f"{self.directory}/{JOB_FILE}", lambda handle: handle.write(blob))
            hand_out()
        except BaseException:  # cancelled or failed while handing out: nothing may stay behind
            self.discard()
            raise
        return self

    def result(self) -> np.ndarray:
        try:
            self._report_done()  # the stage starts now, not when this worker's first partition is done
            for p in range(len(self.sizes)):
                if score_partition(self.settings, self.job_id, p):
                    log.info("%s: did partition %d here", self.job_id, p)
                self._report_done()
            return self._gather()
        finally:
            self.discard()

    def discard(self) -> None:
        if self.fs.exists(self.directory):
            self.fs.rm(self.directory, recursive=True)

    def _gather(self) -> np.ndarray:
        """Wait for partitions done elsewhere; do those whose claimer died without an output."""
        pending = list(range(len(self.sizes)))
        while pending:
            for p in list(pending):
                if self.fs.exists(_output(self.directory, p)):
                    pending.remove(p)
                    continue
                with claim(self.settings, self.job_id, p) as free:
                    if free:  # nobody holds it: it was done meanwhile, or its claimer died without an output
                        if not self.fs.exists(_output(self.directory, p)):
                            _score(self.settings, self.fs, self.directory, p)
                        pending.remove(p)
            self._report_done()
            if pending:
                time.sleep(POLL_SECONDS)
        return np.concatenate([_read_values(self.fs, _output(self.directory, p)) for p in range(len(self.sizes))])

    def _report_done(self) -> None:
        done = sum(n for p, n in enumerate(self.sizes) if self.fs.exists(_output(self.directory, p)))
        self.report("scoring partitions", 0.1 + 0.9 * done / max(sum(self.sizes), 1))


class Pending(Protocol):
    """Values being computed, maybe by other workers: ``result`` waits for them, ``discard`` gives up."""

    def result(self) -> np.ndarray: ...

    def discard(self) -> None: ...


@dataclass(frozen=True)
class Ready:
    value: np.ndarray

    def result(self) -> np.ndarray:
        return self.value

    def discard(self) -> None:
        return None


OddsOf = Callable[[Classifier, np.ndarray], Pending]  # a classifier's log2 odds of a matrix's rows


def in_process(classifier: Classifier, X: np.ndarray) -> Pending:
    return Ready(classifier.log2_odds(X))


def spread_odds(settings: FanoutSettings, job_id: str, send: Send, report: Report) -> OddsOf:
    """``OddsOf`` handing the rows out in partitions: returns once they are queued (see ``PartitionedJob``)."""
    def odds_of(classifier: Classifier, X: np.ndarray) -> Pending:
        parts = bounds(len(X), settings.partitions)
        if len(parts) < 2:
            return in_process(classifier, X)
        job = PartitionedJob(settings, job_id, send, report)
        return job.start(classifier, "log2_odds", len(parts), lambda p: X[parts[p][0]:parts[p][1]])
    return odds_of


class FanoutScorer:
    """``Matcher.refit_labels``' candidate scorer for one run: its classifier's probabilities in partitions.
    ``meanwhile()``, if given, runs once the partitions are handed out, before this worker scores its share:
    work of the run's later stages that other workers cannot do, done while they score."""

    def __init__(self, settings: FanoutSettings, run_id: str, send: Send, report: Report,
                 meanwhile: Callable[[], None] | None = None) -> None:
        self.settings, self.run_id, self.send, self.report = settings, run_id, send, report
        self.meanwhile = meanwhile

    def __call__(self, matcher: Matcher) -> np.ndarray:
        n = len(matcher.candidates_)
        parts = bounds(n, self.settings.partitions)
        if not self.settings.spreads(n) or len(parts) < 2 or matcher.classifier_ is None:
            return matcher.score(matcher.candidates_)

        job = PartitionedJob(self.settings, self.run_id, self.send, self.report)
        source = RowsInFile.of(self.settings, getattr(matcher, "candidate_design_", None), parts)
        if source is not None:  # the cached fit's design file: nothing to build or write
            job.start_on_file(matcher.classifier_, "predict_proba", source)
        else:
            job.start(matcher.classifier_, "predict_proba", len(parts),
                      lambda p: matcher.design(matcher.candidates_.subset(np.arange(*parts[p]))))
        if self.meanwhile is not None:
            try:
                self.meanwhile()
            except BaseException:
                job.discard()
                raise
        return job.result()


def _read_values(fs: Any, path: str) -> np.ndarray:
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle).column("value").to_numpy()
