"""The fitted matcher (blocking + candidate features + unsupervised model) cached between task runs.

Fitting is the expensive part of every run and does not depend on labels, so it is done once per version and
reloaded: a labeling round after the first only refits the classifier on the new labels. The version is a hash
of everything the fit depends on (dataset, primary key, source column, the column types the user chose,
accuracy/cost knob, engine version and the versions of the libraries inside the pickle); anything else (threshold,
enforce labels, one-to-one) is applied after loading. The fit is a pickle whose arrays are read back memory-mapped
(``storage.mapped_pickle``), written by our own workers under the data directory and trusted as such.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import sklearn

import matcher
from matcher.labels import Labels
from matcher.pipeline import Matcher
from matcher.progress import ProgressCallback
from matcher.settings import Settings
from services.column_choices import settings_columns
from storage import mapped_pickle
from storage.artifacts import ArtifactStore, write_atomically
from storage.models import Transform

log = logging.getLogger(__name__)
Scorer = Callable[[Matcher], np.ndarray]

MODEL_FILE = "matcher.fit"  # storage.mapped_pickle
DESIGN_FILE = "design.npy"  # Matcher.candidate_design(), read back memory-mapped
KEEP_OTHER_VERSIONS = 1  # besides the current one, so flipping a knob back and forth stays fast


@lru_cache(maxsize=1)
def engine_version() -> str:
    """matcher's version plus a digest of its source: a code change invalidates caches even without a bump."""
    digest = hashlib.sha256()
    for path in sorted(Path(matcher.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    libs = f"numpy {np.__version__} pandas {pd.__version__} sklearn {sklearn.__version__}"
    return f"{matcher.__version__}+{digest.hexdigest()[:12]} ({libs})"


def cache_version(transform: Transform, extra_records: str = "") -> str:
    """``extra_records``: a digest of records matched beside the dataset's (the entity store's records that
    incremental runs added, ``services.entity_stores.records_beyond``); empty for the dataset alone."""
    key: dict[str, object] = {
        "dataset": transform.dataset_id, "primary_key": transform.primary_key, "source_column": transform.source_column,
        "accuracy_cost_tradeoff": float(transform.accuracy_cost_tradeoff), "engine": engine_version()}
    if extra_records:
        key["extra_records"] = extra_records
    if transform.column_types:  # absent when none are chosen: the versions cached before choices existed hold
        key["column_types"] = transform.column_types
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def settings_for(transform: Transform) -> Settings:
    return Settings(primary_key=transform.primary_key, source_column=transform.source_column,
                    columns=settings_columns(transform),
                    precision_recall_tradeoff=float(transform.precision_recall_tradeoff),
                    accuracy_cost_tradeoff=float(transform.accuracy_cost_tradeoff),
                    enforce_labels=bool(transform.enforce_provided_labels),
                    one_to_one=None if transform.one_to_one is None else bool(transform.one_to_one))


FIT_SHARE = 0.8  # of the progress bar; learning from the labels and scoring every candidate take the rest


def fitted_matcher(store: ArtifactStore, transform: Transform, records: pd.DataFrame, labels: Labels | None,
                   progress: ProgressCallback, scorer: Scorer | None = None,
                   fit_records: Callable[[], pd.DataFrame] | None = None, extra_records: str = "",
                   weights: pd.DataFrame | None = None) -> Matcher:
    """A matcher fitted on the dataset with ``labels``: reloaded when this version is cached, else fitted and
    cached (without labels, which change every round). ``scorer`` may spread the scoring of the candidates
    (``Matcher.refit_labels``); it reports its own progress as 0..1, shown after the fit.

    The matcher keeps ``records`` (``Matcher.with_records``): every column, or the primary key alone when
    the caller builds its output rows itself; a fit reads every column from ``fit_records`` (default: these).
    ``weights``: the labeled pairs' weights (``services.training_weights``); like the labels they act in the
    refit after the cache, so neither is part of the cached version."""
    settings = settings_for(transform)
    directory = store.model_dir(transform.id, cache_version(transform, extra_records))
    progress("loading", 0.0)
    fitted = _load(directory / MODEL_FILE)
    if fitted is None:
        # keep_index: what the transform's entity store needs (key hashes, document frequencies), kept with the
        # fit so that writing the store after a run does not prepare the whole dataset again (2.5 s of a 3.9 s
        # cached FIND_MATCHES run at 50k records otherwise)
        fitted = Matcher(settings, progress=_scaled(progress, 0.0, FIT_SHARE), keep_index=True).fit(
            fit_records() if fit_records is not None else records, None)
        _save(fitted, directory)
        _prune(directory)
    # knobs that act after the fit: the cached matcher takes this transform's current values
    fitted = _with_design(fitted, directory / DESIGN_FILE).with_records(records).with_knobs(settings, progress)
    progress("labels", FIT_SHARE)
    return fitted.refit_labels(labels, scorer, weights)  # on one OpenMP thread for a small candidate set


def _scaled(progress: ProgressCallback, lo: float, hi: float) -> ProgressCallback:
    return lambda stage, fraction: progress(stage, lo + (hi - lo) * fraction)


def scorer_progress(progress: ProgressCallback) -> ProgressCallback:
    """Where a ``fitted_matcher`` scorer's own 0..1 progress belongs on the run's bar."""
    return _scaled(progress, FIT_SHARE, 1.0)


def _load(path: Path) -> Matcher | None:
    try:
        fitted = mapped_pickle.load(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 (a truncated or incompatible cache is a miss, never a failure)
        log.warning("ignoring unreadable cached matcher %s: %s", path, exc)
        return None
    return fitted if isinstance(fitted, Matcher) else None


def _with_design(fitted: Matcher, path: Path) -> Matcher:
    """The matcher with its candidates' design matrix memory-mapped from ``path``, built and written first if
    missing or stale (checked on its first rows): a refit then never builds it (~1.5 s at 1M records), the
    fan-out's partition tasks read their row ranges straight from the file (the data directory is shared by
    every worker), and the rows no run touches cost no memory. Without a usable file it stays in memory."""
    n = len(fitted.candidates_)
    if n == 0:
        return fitted
    design = _mapped(path, n)
    head = fitted.design(fitted.candidates_.subset(np.arange(min(n, 64))))
    if design is None or design.shape[1] != head.shape[1] or not np.array_equal(design[:len(head)], head,
                                                                                   equal_nan=True):
        built = fitted.design(fitted.candidates_)
        _write_atomically(path, lambda handle: np.save(handle, built, allow_pickle=False))
        design = _mapped(path, n)
        if design is None:
            design = built
    return fitted.with_candidate_design(design)


def _mapped(path: Path, rows: int) -> np.ndarray | None:
    try:
        design = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):  # missing or truncated: rebuilt by the caller
        return None
    ok = isinstance(design, np.memmap) and design.ndim == 2 and len(design) == rows and design.dtype == np.float32
    return design if ok else None


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """``storage.artifacts.write_atomically``, where a full disk costs speed next time, not this run."""
    try:
        write_atomically(path, write)
    except OSError as exc:
        log.warning("could not cache %s: %s", path, exc)


def _save(fitted: Matcher, directory: Path) -> None:
    """Atomic: a reader sees a whole pickle or none. Neither the progress callback (a closure), the records
    (the dataset file itself, given back by ``with_records``) nor the candidates' design matrix (a file of its
    own, ``_with_design``) are pickled (``Matcher.without_data``)."""
    cached = fitted.without_data()
    _write_atomically(directory / MODEL_FILE, lambda handle: mapped_pickle.dump(cached, handle))
    meta = {"engine": engine_version(), "records": int(fitted.table_.n)}
    _write_atomically(directory / "meta.json", lambda handle: handle.write(json.dumps(meta).encode()))


def _prune(current: Path) -> None:
    """Drop old versions of this transform's cache, keeping the most recently written others."""
    others = [p for p in current.parent.iterdir() if p.is_dir() and p != current]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in others[KEEP_OTHER_VERSIONS:]:
        shutil.rmtree(stale, ignore_errors=True)
