"""``matcher serve``'s processes: gunicorn with the app, and a supervised Celery worker beside it.

This process only watches: every ``TICK`` seconds it checks the web server (if gunicorn's master dies,
``matcher serve`` stops the worker and exits 1) and lets ``server.supervisor`` restart a dead worker. SIGTERM
and SIGINT (Ctrl-C) stop the web server first (requests in flight get ``GRACEFUL_TIMEOUT`` seconds), then the
worker (a warm shutdown, killed after 30 s: a run it was executing is queued again at the next start), and
exit 0. Children never outlive this process (``server.processes``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from server.processes import spawn, stop
from server.supervisor import WorkerSupervisor
from server.web_server import GRACEFUL_TIMEOUT, bind_address
from services import worker_status
from services.config import Config

TICK = 0.5


def web_command(config: Config, host: str, port: int, workers: int, access_log: bool) -> list[str]:
    command = [sys.executable, "-P", "-m", "server.web_server", "--bind", bind_address(host, port),
               "--data-dir", str(config.data_dir), "--workers", str(workers)]
    return [*command, "--access-log"] if access_log else command


def run(config: Config, host: str, port: int, web_workers: int, access_log: bool, with_worker: bool) -> int:
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    env = dict(os.environ, MATCHER_DATA_DIR=str(config.data_dir))
    worker_status.remove(config.data_dir)  # left by a matcher serve that was killed: not ours to report
    web = spawn(web_command(config, host, port, web_workers, access_log), env, stdout_to_stderr=True)
    supervisor = WorkerSupervisor(config.data_dir, env=env) if with_worker else None
    print(f"matcher: serving http://{bind_address(host, port)}/api/v1 with {web_workers} web worker(s) "
          f"{'and a supervised task worker ' if with_worker else ''}(data dir {config.data_dir})",
          file=sys.stderr, flush=True)
    code = 0
    try:
        while not stopping.is_set():
            if web.poll() is not None:
                print(f"matcher: error: the web server stopped ({web.returncode}); stopping", file=sys.stderr)
                code = 1
                break
            if supervisor is not None:
                supervisor.tick()
            stopping.wait(TICK)
    finally:
        stop(web, timeout=GRACEFUL_TIMEOUT + 5)
        if supervisor is not None:
            supervisor.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
