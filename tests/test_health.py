"""``/healthz`` reading ``matcher serve``'s worker status file, and the supervisor's restart policy on a real
process that dies at once (the supervised worker end to end: test_serve_supervision.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from api_support import Api, sqlite_api

from server.supervisor import WorkerSupervisor, backoff
from services import worker_status


def status(**values: object) -> dict[str, object]:
    base: dict[str, object] = {"alive": True, "pid": 4242, "restarts": 0, "consecutive_failures": 0,
                               "last_exit": None, "down_since": None, "updated_at": time.time()}
    return {**base, **values}


def health(api: Api, written: dict[str, object] | None) -> tuple[int, dict]:
    if written is None:
        worker_status.remove(api.config.data_dir)
    else:
        worker_status.write(api.config.data_dir, written)
    response = api.client.get("/healthz")
    return response.status_code, response.get_json()


def test_healthz_reports_the_worker_and_the_queue(tmp_path: Path) -> None:
    api = sqlite_api(tmp_path)
    code, body = health(api, None)
    assert (code, body["status"], body["worker"]) == (200, "ok", {"supervised": False})
    deadline = time.monotonic() + 30
    while body["queue"]["depth"] is None and time.monotonic() < deadline:  # measured in the background
        time.sleep(0.1)
        body = api.client.get("/healthz").get_json()
    assert body["queue"] == {"depth": 0}

    code, body = health(api, status(restarts=2, consecutive_failures=1, last_exit="killed by SIGKILL"))
    assert (code, body["status"]) == (200, "ok")
    assert body["worker"] == {"supervised": True, "alive": True, "pid": 4242, "restarts": 2,
                              "consecutive_failures": 1, "last_exit": "killed by SIGKILL", "down_for": None}

    now = time.time()
    code, body = health(api, status(alive=False, pid=None, down_since=now - 5, consecutive_failures=1))
    assert (code, body["status"], body["worker"]["alive"]) == (200, "ok", False)  # within the grace period
    assert 4 <= body["worker"]["down_for"] <= worker_status.GRACE

    code, body = health(api, status(alive=False, pid=None, down_since=now - worker_status.GRACE - 5))
    assert (code, body["status"], body["worker"]["alive"]) == (503, "degraded", False)

    looping = status(consecutive_failures=worker_status.CRASH_LOOP, down_since=now - 60)  # up now, dies again
    code, body = health(api, looping)
    assert (code, body["status"], body["worker"]["alive"], body["worker"]["pid"]) == (503, "degraded", False, None)

    stale = status(updated_at=now - worker_status.STALE - worker_status.GRACE - 1)  # matcher serve is gone
    code, body = health(api, stale)
    assert (code, body["status"], body["worker"]["alive"]) == (503, "degraded", False)
    assert "stopped reporting" in body["worker"]["last_exit"]


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    assert [backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_worker_dying_at_start_up_is_restarted_with_backoff(tmp_path: Path) -> None:
    logged: list[str] = []
    supervisor = WorkerSupervisor(tmp_path, command=[sys.executable, "-c", "raise SystemExit(3)"], env={},
                                  log=logged.append)
    deadline = time.monotonic() + 4.5
    try:
        while time.monotonic() < deadline:
            supervisor.tick()
            time.sleep(0.05)
        written = worker_status.read(tmp_path)
    finally:
        supervisor.close()
    exits = [line for line in logged if "stopped: exit code 3" in line]
    delays = [line.split("starting it again in ")[1].split(" s ")[0] for line in exits]
    assert delays[:2] == ["1", "2"] and supervisor.restarts >= 2
    assert any(line.startswith("matcher: worker restarted (pid ") for line in logged)
    assert written is not None and written["consecutive_failures"] >= 2 and written["last_exit"] == "exit code 3"
    assert not worker_status.path(tmp_path).exists()  # close() removes it: no stale report after a stop
