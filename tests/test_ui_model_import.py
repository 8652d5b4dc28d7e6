"""Importing a model from the web UI: on a transform's Task runs page an admin picks a model file (one saved by
``matcher match --save-model``), sees it listed as imported and in effect, runs Find matches, and the run applied
the import (its stats name it; the models list gains the run's version); a labeler sees the list but no import
form and no Delete. A real ``matcher serve`` with its worker in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_quietly
from conftest import FIXTURES
from serve_support import running_serve
from test_ui_browser import api_call, shot, wait_for_run
from test_ui_delete import signed_in, upload

PEOPLE = FIXTURES / "people" / "records.csv"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path, Path]]:
    root = tmp_path_factory.mktemp("ui-model")
    model = root / "people-model.zip"
    code, _, err = run_quietly("match", PEOPLE, "--primary-key", "id", "--save-model", model, "--quiet",
                               "--output", root / "fit.csv")
    assert code == 0, err
    with running_serve(root / "data", "--no-demo") as (base, token):
        yield base, token, root / "data", model


def test_an_admin_imports_a_model_and_find_matches_applies_it(served: tuple[str, str, Path, Path],
                                                             browser: Any) -> None:
    base, token, data, model = served
    dataset_id = upload(base, token, PEOPLE.read_bytes())
    tid = api_call(base, token, "POST", "/transforms",
                   {"name": "imported model", "dataset_id": dataset_id, "primary_key": "id"})["id"]
    page = signed_in(browser, base, token)
    page.goto(f"{base}/transforms/{tid}/runs")
    page.locator("#models-table").get_by_text("No models yet").wait_for()
    page.set_input_files("#model-file", str(model))
    page.click("#model-import button[type=submit]")
    imported = page.locator('#models-table tr[data-imported="true"]')
    imported.wait_for()
    assert imported.get_attribute("data-in-effect") == "true"
    assert "Imported: people-model.zip by admin" in imported.locator("td.origin").inner_text()
    assert "applies it" in imported.locator("td.effect").inner_text()
    assert "Imported people-model.zip" in page.inner_text("#notice")
    version = imported.get_attribute("data-version")
    shot(page, "40-model-imported")
    page.reload()  # the step bar says what an import in effect means for a transform with no labels
    page.wait_for_function("() => document.querySelector('#steps .status-help') !== null")
    assert page.locator("#steps").get_attribute("data-next") == "Find matches"
    assert "applies the imported model people-model.zip (no fit)" in page.inner_text("#steps .status-help")

    page.click('button.start[data-type="FIND_MATCHES"]')
    wait_for_run(page, "FIND_MATCHES", "41-find-matches-imported")
    run_row = page.locator('#models-table tr[data-imported="false"]')
    run_row.wait_for()
    assert "applied an import" in run_row.locator("td.origin").inner_text()
    run_id = run_row.get_attribute("data-version")
    stats = json.loads((data / "outputs" / str(run_id) / "stats.json").read_text())
    assert stats["imported_model"] == version
    assert (data / "outputs" / str(run_id) / "model.zip").read_bytes() == model.read_bytes()
    shot(page, "42-models-after-find-matches")
    page.context.close()

    labeler = api_call(base, token, "POST", "/users", {"name": "lena", "role": "labeler"})["token"]["secret"]
    page = signed_in(browser, base, labeler)
    page.goto(f"{base}/transforms/{tid}/runs")
    page.locator('#models-table tr[data-imported="true"]').wait_for()
    assert page.locator("#model-import").is_hidden()
    assert page.locator("#models-table button.delete").count() == 0
    assert page.locator("#models-table button.download").count() == 2
    page.context.close()
