"""``matcher serve`` as a real process: first start creates the admin token (0600) and loads the demo."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from server.cli import main
from server.web_cli import migrate_database
from services.config import Config
from services.users import authenticate, ensure_admin
from storage.db import Database

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_until_healthy(base: str, server: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"matcher serve exited with {server.returncode}: {server.stderr.read()}")
        try:
            if get(f"{base}/healthz")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    pytest.fail("matcher serve did not answer /healthz in time")


def serve(data: Path, check: Callable[[str], None]) -> tuple[str, str]:
    """Run ``matcher serve --no-worker`` until ``check(base_url)`` returns, then stop it with SIGTERM."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
    command = [sys.executable, "-m", "server.cli", "serve", "--no-worker", "--port", str(port), "--data-dir", str(data)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, server)
        check(base)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_serve_first_start_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token_file = data / "admin-token"

    def first(base: str) -> None:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        status, body = get(f"{base}/api/v1/datasets", token)
        assert status == 200
        assert [(d["name"], d["row_count"]) for d in body["datasets"]] == [("people (demo)", 2000)]
        status, body = get(f"{base}/api/v1/transforms", token)
        assert [(t["name"], t["status"]) for t in body["transforms"]] == [("people (demo)", "NOT_READY")]
        assert get(f"{base}/api/v1/datasets")[0] == 401

    out, _ = serve(data, first)
    assert out.strip() == token_file.read_text().strip()  # printed once, on stdout

    def again(base: str) -> None:  # same token still valid, demo not loaded twice
        status, body = get(f"{base}/api/v1/datasets", token_file.read_text().strip())
        assert status == 200 and len(body["datasets"]) == 1

    out, _ = serve(data, again)
    assert out == ""


def test_users_create_prints_a_working_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATCHER_DATABASE_URL", raising=False)
    assert main(["users", "create", "lena", "--role", "labeler", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    user = authenticate(Database(f"sqlite:///{tmp_path / 'matcher.sqlite'}"), token)
    assert (user.name, user.role) == ("lena", "labeler")
    assert main(["users", "create", "lena", "--role", "admin", "--data-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("matcher: error: a user named 'lena' already exists")


def test_ensure_admin_only_on_an_empty_users_table(tmp_path: Path) -> None:
    config = Config.from_env(tmp_path, database_url=f"sqlite:///{tmp_path / 'matcher.sqlite'}")
    _, db = prepare_with(config)
    stale = tmp_path / "admin-token"
    stale.write_text("old")
    stale.chmod(0o644)
    token = ensure_admin(config, db)
    assert token and stale.read_text().strip() == token and stat.S_IMODE(stale.stat().st_mode) == 0o600
    assert authenticate(db, token).role == "admin"
    assert ensure_admin(config, db) is None


def prepare_with(config: Config) -> tuple[Config, Database]:
    config.ensure_dirs()
    migrate_database(config)
    return config, Database(config.database_url)
