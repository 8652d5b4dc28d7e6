"""Where files live under the data directory. One layout, shared by the web process and the workers.

    datasets/<dataset_id>.parquet            the uploaded table, every value a string (input column order)
    datasets/<dataset_id>.lines.npy          of a CSV upload: each row's line in the user's file (for errors)
    datasets/<dataset_id>.facts.json         what the upload's pass found: {"key_candidates": [columns]}
    outputs/<task_run_id>/<name>             a task run's published output (written to a temp name, then renamed)
    artifacts/<transform_id>/<version>/...   the engine's fitted state, reloadable (services.model_cache:
                                             matcher.fit, a storage.mapped_pickle, and design.npy)
    models/<transform_id>/<version>.zip      a model file imported into the transform (services.model_import)
    stores/<transform_id>/...                the transform's entity store (matcher.entity_store: CURRENT,
                                             versions/v000001/..., lock), written by FIND_MATCHES and
                                             FIND_INCREMENTAL_MATCHES runs and by erasure
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


class ArtifactStore:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir)

    def dataset_path(self, dataset_id: str) -> Path:
        return self.root / "datasets" / f"{dataset_id}.parquet"

    def dataset_lines_path(self, dataset_id: str) -> Path:
        return self.root / "datasets" / f"{dataset_id}.lines.npy"

    def dataset_facts_path(self, dataset_id: str) -> Path:
        return self.root / "datasets" / f"{dataset_id}.facts.json"

    def output_dir(self, task_run_id: str) -> Path:
        return self.root / "outputs" / task_run_id

    def output_path(self, task_run_id: str, name: str) -> Path:
        return self.output_dir(task_run_id) / name

    def model_dir(self, transform_id: str, version: str) -> Path:
        return self.root / "artifacts" / transform_id / version

    def imported_models_dir(self, transform_id: str) -> Path:
        return self.root / "models" / transform_id

    def imported_model_path(self, transform_id: str, version: str) -> Path:
        return self.imported_models_dir(transform_id) / f"{version}.zip"

    def entity_store_dir(self, transform_id: str) -> Path:
        return self.root / "stores" / transform_id

    def publish(self, data: bytes, target: Path) -> Path:
        """Write bytes atomically: readers see the whole file or none of it."""
        return write_atomically(target, lambda handle: handle.write(data))


def write_atomically(target: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Let ``write`` fill a temporary file beside ``target``, then rename it: readers see the whole file or none
    of it (streamed, so a large artifact is never held in memory as bytes first). mkstemp makes it 0600: private
    to the service user, like everything under the data directory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
