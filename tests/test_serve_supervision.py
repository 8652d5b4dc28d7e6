"""``matcher serve`` as real processes: gunicorn with the app, a supervised worker restarted after a SIGKILL
(its run recovered), a ``concurrent.py`` in the start directory, a clean stop on SIGTERM and SIGINT with no
process left behind, and a quiet log unless ``--access-log``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from serve_support import stop
from test_serve import ROOT, free_port, get, wait_until_healthy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@dataclass
class Served:
    process: subprocess.Popen[str]
    base: str
    token: str
    log: Path

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(f"{self.base}/api/v1{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def health(self) -> tuple[int, dict]:
        return get(f"{self.base}/healthz")


@contextmanager
def served(tmp_path: Path, *args: str, cwd: Path = ROOT, console_script: bool = False) -> Iterator[Served]:
    data, log_path, port = tmp_path / "data", tmp_path / "serve.log", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
    env.setdefault("OMP_NUM_THREADS", "1")
    program = [str(Path(sys.executable).parent / "matcher")] if console_script else [sys.executable, "-m", "server.cli"]
    command = [*program, "serve", *args, "--port", str(port), "--data-dir", str(data)]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process)
        yield Served(process, base, (data / "admin-token").read_text().strip(), log_path)
    finally:
        if process.poll() is None:
            stop(process)
        print(f"\nmatcher serve log (tail):\n{log_path.read_text()[-4000:]}")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(check, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def live_worker(served: Served) -> dict:
    def check() -> dict | None:
        code, body = served.health()
        return body["worker"] if code == 200 and body["worker"].get("alive") else None

    return wait_for(check, 60, "a live worker in /healthz")


def demo_transform(served: Served) -> str:
    return served.api("GET", "/transforms")["transforms"][0]["id"]


def test_a_killed_worker_is_restarted_and_its_run_recovered(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        worker = live_worker(server)
        assert (worker["restarts"], worker["last_exit"]) == (0, None)
        run = server.api("POST", f"/transforms/{demo_transform(server)}/task-runs", {"type": "FIND_MATCHES"})
        seen = wait_for(lambda: (r := server.api("GET", f"/task-runs/{run['id']}"))["status"] != "STARTING" and r,
                        60, "the run to start")
        assert seen["status"] == "RUNNING", "the run ended before the worker could be killed"
        os.kill(worker["pid"], signal.SIGKILL)
        killed = time.monotonic()

        def restarted() -> dict | None:
            body = server.health()[1]["worker"]
            return body if body["alive"] and body["pid"] != worker["pid"] else None

        again = wait_for(restarted, 30, "the worker to be restarted")
        assert (again["restarts"], again["last_exit"]) == (1, "killed by SIGKILL")
        wait_for(lambda: server.api("GET", f"/task-runs/{run['id']}")["attempts"] == 2, 60,
                 "the orphaned run to be claimed again within a minute")  # the restarted worker's recovery sweep
        assert time.monotonic() - killed < 60
        done = wait_for(lambda: (r := server.api("GET", f"/task-runs/{run['id']}"))["status"] not in
                        ("STARTING", "RUNNING") and r, 120, "the recovered run to end")
        assert (done["status"], done["attempts"]) == ("SUCCEEDED", 2), done["error_message"]
        log = server.log.read_text()
        assert f"worker (pid {worker['pid']}) stopped: killed by SIGKILL" in log
        assert "matcher: worker restarted (pid " in log


def test_a_concurrent_py_in_the_start_directory_does_not_kill_the_worker(tmp_path: Path) -> None:
    start_dir = tmp_path / "project"
    start_dir.mkdir()
    (start_dir / "concurrent.py").write_text("raise SystemExit('the working directory is on the import path')\n")
    with served(tmp_path, cwd=start_dir, console_script=True) as server:
        worker = live_worker(server)
        run = server.api("POST", f"/transforms/{demo_transform(server)}/task-runs", {"type": "FIND_MATCHES"})
        done = wait_for(lambda: (r := server.api("GET", f"/task-runs/{run['id']}"))["status"] not in
                        ("STARTING", "RUNNING") and r, 120, "the run to end")
        assert done["status"] == "SUCCEEDED", done["error_message"]
        code, body = server.health()
        assert (code, body["worker"]["pid"], body["worker"]["restarts"]) == (200, worker["pid"], 0)
        assert "the working directory is on the import path" not in server.log.read_text()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_gunicorn_and_stops_everything(tmp_path: Path, stop_signal: signal.Signals) -> None:
    with served(tmp_path, "--web-workers", "3") as server:
        live_worker(server)

        def children() -> dict[int, str] | None:  # gunicorn's master and three web workers (booted one by one)
            found = {pid: command for pid in descendants(server.process.pid) if (command := cmdline(pid))}
            return found if sum("server.web_server" in c for c in found.values()) == 1 + 3 else None

        commands = wait_for(children, 30, "gunicorn and its three web workers")
        assert sum("server.cli worker" in command for command in commands.values()) == 1
        processes = set(commands)
        for _ in range(20):  # what the UI and monitors do all day
            server.health()
            server.api("GET", "/transforms")
        server.process.send_signal(stop_signal)
        assert server.process.wait(timeout=60) == 0
        wait_for(lambda: not any(alive(pid) for pid in processes), 30, "every child to exit")
        log = server.log.read_text()
    assert "development server" not in log and "Traceback" not in log
    assert "Booting worker" in log  # gunicorn's
    assert "GET /healthz" not in log and "GET /api/v1/transforms" not in log  # no access log by default
    assert not (tmp_path / "data" / "worker-status.json").exists()


def test_the_access_log_is_there_when_asked_for(tmp_path: Path) -> None:
    with served(tmp_path, "--no-worker", "--access-log") as server:
        assert server.health()[1]["worker"] == {"supervised": False}
        server.api("GET", "/transforms")
    assert '"GET /api/v1/transforms HTTP/1.1" 200' in server.log.read_text()
