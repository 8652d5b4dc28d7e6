"""Deleting datasets and transforms from the web UI: an admin's Delete button asks the browser's confirm() first,
then calls the API; a refusal (409: a transform uses the dataset) shows with the transform's name and deletes
nothing; labelers see no Delete button. A real ``matcher serve`` in headless Chromium (helpers shared with
test_ui_browser), and the pages through Flask's test client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Api, sqlite_api
from conftest import FIXTURES
from serve_support import running_serve
from test_ui_browser import api_call, shot

PEOPLE = FIXTURES / "people" / "records.csv"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data = tmp_path_factory.mktemp("ui-delete") / "data"
    with running_serve(data, "--no-demo") as (base, token):
        yield base, token, data


def signed_in(browser: Any, base: str, token: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(f"localStorage.setItem('matcher.token', {json.dumps(token)})")
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


class Dialogs:
    """Answers the page's confirm() dialogs as told, and keeps their messages."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        self.accept = False
        page.on("dialog", self._answer)

    def _answer(self, dialog: Any) -> None:
        self.messages.append(dialog.message)
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


def status_of(base: str, token: str, path: str) -> int:
    try:
        api_call(base, token, "GET", path)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200


def test_an_admin_deletes_a_transform_then_its_dataset_after_confirming(served: tuple[str, str, Path],
                                                                        browser: Any) -> None:
    base, token, data = served
    page = signed_in(browser, base, token)
    dialogs = Dialogs(page)
    page.goto(f"{base}/datasets")
    page.set_input_files("#upload-file", str(PEOPLE))
    page.fill("#upload-name", "doomed people")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{base}/datasets/*")
    dataset_id = page.url.rsplit("/", 1)[1]
    transform = api_call(base, token, "POST", "/transforms",
                         {"name": "doomed dedup", "dataset_id": dataset_id, "primary_key": "id"})
    assert (data / "datasets" / f"{dataset_id}.parquet").is_file()

    # cancelling the confirm() deletes nothing; confirming while a transform uses it is a 409 naming it
    page.goto(f"{base}/datasets")
    row = page.locator(f'#datasets-table tr[data-id="{dataset_id}"]')
    row.locator("button.delete").click()
    assert "doomed people" in dialogs.messages[-1] and "600 rows" in dialogs.messages[-1]
    page.wait_for_timeout(300)
    assert row.is_visible() and status_of(base, token, f"/datasets/{dataset_id}") == 200
    dialogs.accept = True
    row.locator("button.delete").click()
    page.locator("#error").wait_for(state="visible")
    assert "'doomed dedup'" in page.inner_text("#error")
    assert row.is_visible() and status_of(base, token, f"/datasets/{dataset_id}") == 200
    shot(page, "30-delete-dataset-refused")

    page.goto(f"{base}/transforms")
    t_row = page.locator(f'#transforms-table tr[data-id="{transform["id"]}"]')
    t_row.locator("button.delete").click()
    assert "doomed dedup" in dialogs.messages[-1] and "The dataset stays" in dialogs.messages[-1]
    t_row.wait_for(state="detached")
    assert "Deleted transform doomed dedup" in page.inner_text("#notice")
    assert status_of(base, token, f"/transforms/{transform['id']}") == 404

    page.goto(f"{base}/datasets")
    row.locator("button.delete").click()
    row.wait_for(state="detached")
    assert "Deleted dataset doomed people" in page.inner_text("#notice") and page.locator("#error").is_hidden()
    assert status_of(base, token, f"/datasets/{dataset_id}") == 404
    assert not (data / "datasets" / f"{dataset_id}.parquet").exists()
    shot(page, "31-dataset-deleted")
    page.context.close()


def test_labelers_see_no_delete_button(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    labeler = api_call(base, token, "POST", "/users", {"name": "lena", "role": "labeler"})["token"]["secret"]
    dataset_id = upload(base, token, PEOPLE.read_bytes())
    api_call(base, token, "POST", "/transforms", {"name": "kept", "dataset_id": dataset_id, "primary_key": "id"})
    page = signed_in(browser, base, labeler)
    for path, table in (("/datasets", "#datasets-table"), ("/transforms", "#transforms-table")):
        page.goto(base + path)
        page.locator(f"{table} tbody tr[data-id]").first.wait_for()
        assert page.locator(f"{table} button.delete").count() == 0, path
    page.context.close()


def upload(base: str, token: str, body: bytes) -> str:
    """POST /datasets as multipart (the browser test's own upload goes through the page's form)."""
    boundary = "matcher-test-boundary"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n"
               f"Content-Type: text/csv\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{base}/api/v1/datasets", data=payload, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["id"]


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def test_the_list_pages_load_the_delete_action_that_confirms_first(api: Api) -> None:
    """The pages are shells: their script builds the Delete buttons, which call confirm() before DELETE."""
    for path, script in (("/datasets", "datasets.js"), ("/transforms", "transforms.js")):
        page = api.client.get(path)
        assert page.status_code == 200 and f"/ui-static/{script}" in page.get_data(as_text=True)
        assert "ui.deleteButton(" in api.client.get(f"/ui-static/{script}").get_data(as_text=True)
    shared = api.client.get("/ui-static/app.js").get_data(as_text=True)
    helper = shared[shared.index("deleteButton(what"):]
    assert helper.index("window.confirm(") < helper.index('method: "DELETE"')
