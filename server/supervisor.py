"""``matcher serve``'s watch over its Celery worker: restart it when it dies, with backoff, and say so.

A worker that exits for any reason (SIGKILL, the kernel's OOM killer, an import error at start-up) is started
again after ``backoff(n)`` seconds: 1 s after the first exit in a row, doubling up to ``MAX_DELAY``; the count
of exits in a row resets once a worker has stayed up ``STABLE_AFTER`` seconds. Each exit and restart is logged
on stderr. The state goes to ``services.worker_status`` (read by ``/healthz``). Runs the dead worker left behind
are the restarted worker's business: its recovery sweep at start (``workers.recovery``) queues a RUNNING run
whose lock nobody holds again, at once, and a STARTING run whose message was lost within a minute.

The worker runs ``python -P -m server.cli worker``: ``-P`` keeps the directory ``matcher serve`` was started in
off its import path (a ``concurrent.py`` there used to shadow the standard library and kill it at start-up).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.processes import spawn, stop
from services import worker_status

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 60.0


def backoff(failures: int) -> float:
    """Seconds to wait before the next start after ``failures`` exits in a row (1, 2, 4, ... capped)."""
    return min(FIRST_DELAY * 2 ** max(failures - 1, 0), MAX_DELAY)


def worker_command(data_dir: Path) -> list[str]:
    return [sys.executable, "-P", "-m", "server.cli", "worker", "--pool=solo", "--concurrency=1",
            "--loglevel=warning", "--data-dir", str(data_dir)]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerSupervisor:
    """Call ``tick()`` often (the serve loop does every half second) and ``close()`` at the end."""

    def __init__(self, data_dir: Path, command: list[str] | None = None, env: dict[str, str] | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.data_dir = data_dir
        self.command = command or worker_command(data_dir)
        self.env = env if env is not None else dict(os.environ, MATCHER_DATA_DIR=str(data_dir))
        self.log = log or _stderr
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0  # monotonic time of the current process's start
        self.next_start = 0.0  # monotonic time of the next start while no process runs
        self.failures = 0  # exits in a row, each before the worker had stayed up STABLE_AFTER seconds
        self.restarts = 0
        self.last_exit: str | None = None
        self.down_since: float | None = time.time()  # wall clock: cleared once a worker runs (health)
        self.written = 0.0
        self.dirty = True

    def tick(self) -> None:
        now = time.monotonic()
        if self.process is not None:
            code = self.process.poll()
            if code is None:
                self._running(now)
            else:
                self._exited(code, now)
        if self.process is None and now >= self.next_start:
            self._start(now)
        if self.dirty or now - self.written >= worker_status.HEARTBEAT:
            worker_status.write(self.data_dir, self.status())
            self.written, self.dirty = now, False

    def status(self) -> dict[str, Any]:
        alive = self.process is not None and self.process.poll() is None
        return {"alive": alive, "pid": self.process.pid if alive and self.process else None,
                "restarts": self.restarts, "consecutive_failures": self.failures, "last_exit": self.last_exit,
                "down_since": self.down_since, "updated_at": time.time(), "supervisor_pid": os.getpid()}

    def close(self) -> None:
        """Stop the worker (warm shutdown, killed after a while) and remove the status file."""
        if self.process is not None:
            stop(self.process, timeout=30)
            self.process = None
        worker_status.remove(self.data_dir)

    def _start(self, now: float) -> None:
        if self.restarts or self.last_exit:
            self.restarts += 1
        self.process = spawn(self.command, self.env, stdout_to_stderr=True)
        self.started = now
        self.dirty = True
        if self.restarts:
            self.log(f"matcher: worker restarted (pid {self.process.pid}, restart {self.restarts})")

    def _running(self, now: float) -> None:
        if self.failures and now - self.started >= STABLE_AFTER:
            self.failures = 0
            self.dirty = True
        if self.down_since is not None and self.failures < worker_status.CRASH_LOOP:
            self.down_since = None
            self.dirty = True

    def _exited(self, code: int, now: float) -> None:
        uptime = now - self.started
        pid = self.process.pid if self.process else None
        self.process = None
        self.failures = 1 if uptime >= STABLE_AFTER else self.failures + 1
        self.last_exit = describe_exit(code)
        if self.down_since is None:
            self.down_since = time.time()
        delay = backoff(self.failures)
        self.next_start = now + delay
        self.dirty = True
        self.log(f"matcher: worker (pid {pid}) stopped: {self.last_exit} after {uptime:.1f} s; "
                 f"starting it again in {delay:g} s ({self.failures} exit(s) in a row)")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
