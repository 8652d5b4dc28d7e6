"""A real ``matcher serve`` process (API + its Celery worker) for end-to-end tests, stopped cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from test_serve import ROOT, free_port, wait_until_healthy


@contextmanager
def running_serve(data: Path, *extra_args: str) -> Iterator[tuple[str, str]]:
    """Yield (base URL, admin token); on exit stop the server (SIGTERM, then kill) and print its log tail."""
    data.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
    env.setdefault("OMP_NUM_THREADS", "1")
    log_path = data.parent / f"{data.name}-serve.log"
    command = [sys.executable, "-m", "server.cli", "serve", *extra_args, "--port", str(port), "--data-dir", str(data)]
    with open(log_path, "w+") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, process)
            yield base, (data / "admin-token").read_text().strip()
        finally:
            stop(process)
            log.seek(0)
            print(f"\nmatcher serve log (tail):\n{log.read()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    """Terminate a ``matcher serve`` and wait for it (killed after 60 s)."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
