"""Which task runs are being executed right now, told by the operating system rather than by a heartbeat.

The worker executing a run holds an exclusive ``flock`` on ``<data dir>/locks/<run id>.lock``. The kernel
drops the lock the moment that process dies, even on SIGKILL or OOM kill, so "RUNNING in the database but
nobody holds the lock" means exactly "orphaned by a dead worker". The same lock stops a re-delivered
message from executing a run twice at once. Workers must share the data directory (they already do: datasets
and outputs live there) on a filesystem with working ``flock`` (local disk; NFSv4).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def lock_path(data_dir: Path, run_id: str) -> Path:
    return Path(data_dir) / "locks" / f"{run_id}.lock"


@contextlib.contextmanager
def hold(data_dir: Path, run_id: str) -> Iterator[bool]:
    """Try to take the run's lock without waiting; yields whether we got it, releases it on exit.

    The file stays: removing it here could let two processes lock two different files for one run.
    ``remove_stale`` deletes the files of finished runs, which never become active again.
    """
    with try_lock(lock_path(data_dir, run_id)) as held:
        yield held


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path`` (created if needed) if nobody holds it; the kernel drops it when the
    holder dies. Yields whether we got it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def is_held(data_dir: Path, run_id: str) -> bool:
    """Whether some live process holds the run's lock (a missing file means nobody does)."""
    try:
        fd = os.open(lock_path(data_dir, run_id), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def remove_stale(data_dir: Path, finished: set[str]) -> int:
    """Delete the lock files of finished runs; a process that still opens one re-reads the run's terminal
    status after locking and does nothing, so the removal cannot let a run execute twice."""
    removed = 0
    for path in (Path(data_dir) / "locks").glob("*.lock"):
        if path.stem in finished:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
