"""Issue 15, defect 5, against a real ``matcher serve`` with its worker (one server for both tests: a start costs):
every file under the data directory is private (0600, directories 0700) after a dataset upload and a task run, and
an admin manages users and tokens from the Users page in headless Chromium (helpers from test_ui_browser)."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import people_csv
from serve_support import running_serve
from test_ui_browser import api_call, shot


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data = tmp_path_factory.mktemp("admin-served") / "data"
    with running_serve(data) as (base, token):
        yield base, token, data


def upload(base: str, token: str, csv: bytes, filename: str) -> dict[str, Any]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + csv + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{base}/api/v1/datasets", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_for(base: str, token: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api_call(base, token, "GET", f"/task-runs/{run_id}")
        if run["status"] in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT"):
            return run
        time.sleep(0.5)
    pytest.fail(f"run {run_id} did not finish in {timeout} s")


def test_files_under_the_data_dir_are_private(served: tuple[str, str, Path]) -> None:
    base, token, data = served
    dataset = upload(base, token, people_csv(200), "people.csv")
    transform = api_call(base, token, "POST", "/transforms",
                         {"name": "private", "dataset_id": dataset["id"], "primary_key": "id"})
    run = api_call(base, token, "POST", f"/transforms/{transform['id']}/task-runs",
                   {"type": "LABELING_SET_GENERATION", "params": {"num_sets": 2}})
    assert wait_for(base, token, run["id"])["status"] == "SUCCEEDED"

    files, folders, loose = [], [data], []
    for path in data.rglob("*"):
        (folders if path.is_dir() else files).append(path)
    for path in files + folders:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 or (path.is_dir() and mode != 0o700):
            loose.append(f"{oct(mode)} {path.relative_to(data)}")
    assert loose == [], loose
    names = {p.relative_to(data).as_posix() for p in files}
    assert {"matcher.sqlite", "admin-token", f"datasets/{dataset['id']}.parquet"} <= names
    assert any(n.startswith(f"outputs/{run['id']}/") for n in names), sorted(names)
    assert any(n.startswith(f"artifacts/{transform['id']}/") for n in names), sorted(names)
    assert "broker.sqlite" in names  # the worker's files too


def test_an_admin_manages_users_and_tokens_on_the_users_page(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(f"localStorage.setItem('matcher.token', {json.dumps(token)})")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/users")
    page.locator('#users-table tr[data-user="admin"]').wait_for()

    page.fill("#u-name", "pia")
    page.select_option("#u-role", "labeler")
    page.fill("#u-days", "10")
    page.click("#create-form button[type=submit]")
    page.locator('#users-table tr[data-user="pia"]').wait_for()
    first = page.locator("#secret-value").inner_text().strip()
    assert api_call(base, first, "GET", "/me")["name"] == "pia"
    page.click("#secret-done")
    assert page.locator("#secret-section").is_hidden() and page.locator("#secret-value").inner_text() == ""
    shot(page, "30-users")

    row = page.locator('#users-table tr[data-user="pia"]')
    row.locator("button.tokens").click()
    page.locator("#tokens-table tbody tr").first.wait_for()
    assert page.locator("#tokens-table tbody tr").count() == 1
    assert first not in page.content()  # listed without its secret
    page.click("#rotate-token")
    page.wait_for_function("() => !document.getElementById('secret-section').hidden")
    rotated = page.locator("#secret-value").inner_text().strip()
    assert rotated != first and api_call(base, rotated, "GET", "/me")["name"] == "pia"
    with pytest.raises(urllib.error.HTTPError) as old:
        api_call(base, first, "GET", "/me")
    assert old.value.code == 401
    page.wait_for_function("() => document.querySelectorAll('#tokens-table tbody tr').length === 2")
    statuses = page.locator("#tokens-table td.status").all_inner_texts()
    assert sorted(statuses) == ["active", "revoked"]
    shot(page, "31-user-tokens")

    page.locator("#tokens-table button.revoke").click()
    page.wait_for_function("() => !document.querySelector('#tokens-table button.revoke')")
    with pytest.raises(urllib.error.HTTPError) as revoked:
        api_call(base, rotated, "GET", "/me")
    assert revoked.value.code == 401

    row.locator("button.disable").click()
    row.locator("button.enable").wait_for()
    assert row.locator("td.status").inner_text().startswith("disabled")
    row.locator("button.enable").click()
    row.locator("button.disable").wait_for()
    assert row.locator("td.status").inner_text() == "enabled"
    context.close()
