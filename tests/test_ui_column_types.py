"""The transform's settings page shows each column's type in a select whose options come from the column-type
registry (GET /column-types), and saving a changed select sets the transform's ``column_types``; against a real
``matcher serve`` in headless Chromium (helpers shared with test_ui_browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import running_serve
from test_ui_browser import api_call, shot
from test_ui_roles_keyboard import create_labeler, signed_in, transform_id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data = tmp_path_factory.mktemp("ui-column-types") / "data"
    with running_serve(data) as (base, token):
        yield base, token, data


def settings_page(browser: Any, base: str, token: str, tid: str) -> Any:
    page = signed_in(browser, base, token)
    page.goto(f"{base}/transforms/{tid}/edit")
    page.locator("#column-types-table select[data-column=city]").wait_for()
    return page


def test_an_admin_changes_a_column_type_and_it_is_saved(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    tid = transform_id(base, token)
    registry = api_call(base, token, "GET", "/column-types")["column_types"]
    transform = api_call(base, token, "GET", f"/transforms/{tid}")
    assert transform["column_types"] is None

    page = settings_page(browser, base, token, tid)
    rows = page.locator("#column-types-table tbody tr")
    assert [r.get_attribute("data-column") for r in rows.all()] == [c["name"] for c in transform["columns"]]
    city = page.locator("#column-types-table select[data-column=city]")
    options = city.locator("option")
    assert options.all_inner_texts()[1:] == [t["label"] for t in registry]  # after "Automatic (...)"
    assert [o.get_attribute("value") for o in options.all()][1:] == [t["name"] for t in registry]
    assert city.input_value() == ""  # automatic: the profile's guess
    guess = next(c["type"] for c in transform["columns"] if c["name"] == "city")
    assert options.first.inner_text() == f"Automatic ({next(t['label'] for t in registry if t['name'] == guess)})"

    wanted = next(t for t in registry if t["name"] not in (guess, "ignore"))
    described = page.locator("#column-types-table tr[data-column=city] td.hint")
    assert described.inner_text() == next(t["description"] for t in registry if t["name"] == guess)
    page.get_by_label("city", exact=True).select_option(wanted["name"])
    assert described.inner_text() == wanted["description"]  # what the chosen type does
    shot(page, "50-column-types")
    page.click("#transform-form button[type=submit]")
    page.wait_for_url(f"{base}/transforms/{tid}/runs")
    saved = api_call(base, token, "GET", f"/transforms/{tid}")
    assert saved["column_types"] == {"city": wanted["name"]}
    assert {"name": "city", "type": wanted["name"], "chosen": True} in saved["columns"]

    page.goto(f"{base}/transforms/{tid}/edit")  # shown as saved; back to automatic clears the choice
    page.wait_for_function("() => document.querySelector('#column-types-table select[data-column=city]')?.value"
                           f" === {wanted['name']!r}")
    page.get_by_label("city", exact=True).select_option("")
    page.click("#transform-form button[type=submit]")
    page.wait_for_url(f"{base}/transforms/{tid}/runs")
    assert api_call(base, token, "GET", f"/transforms/{tid}")["column_types"] is None
    page.context.close()


def test_a_labeler_sees_the_types_but_cannot_change_them(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, data = served
    page = settings_page(browser, base, create_labeler(data, "lou"), transform_id(base, token))
    selects = page.locator("#column-types-table select")
    assert selects.count() > 0 and all(s.is_disabled() for s in selects.all())
    page.context.close()
