"""The web UI for labelers and for keyboard-only users, and the labeling workspace's character-level diff, against
a real ``matcher serve`` (with its worker) in headless Chromium (helpers shared with test_ui_browser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import running_serve
from test_ui_browser import ROOT, api_call, shot, wait_for_run

from labeling_ui.pages import start_buttons

MAX_TABS = 80  # Tab presses to reach any control of a page: more means it is not reachable in practice
FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(base URL, admin token, data directory) of a ``matcher serve`` with the demo dataset and transform."""
    data = tmp_path_factory.mktemp("ui-roles") / "data"
    with running_serve(data) as (base, token):
        yield base, token, data


def signed_in(browser: Any, base: str, token: str, **options: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, **options)
    context.add_init_script(f"localStorage.setItem('matcher.token', {json.dumps(token)})")
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def create_labeler(data: Path, name: str = "lena") -> str:
    """``matcher users create NAME --role labeler`` on the server's data directory; prints the token once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
    done = subprocess.run([sys.executable, "-m", "server.cli", "users", "create", name, "--role", "labeler",
                           "--data-dir", str(data)], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def transform_id(base: str, token: str) -> str:
    """The demo transform, this server's only one (the keyboard walk renames it)."""
    (transform,) = api_call(base, token, "GET", "/transforms")["transforms"]
    return str(transform["id"])


def tab_to(page: Any, selector: str, key: str = "Tab") -> None:
    """Press Tab (or Shift+Tab) until the focused element matches ``selector``; it must show a focus ring."""
    for _ in range(MAX_TABS):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            assert page.evaluate(FOCUS_RING), f"no visible focus ring on {selector}"
            return
        page.keyboard.press(key)
    pytest.fail(f"{selector} not reached with {MAX_TABS} Tab presses on {page.url}")


# -- the character-level diff -------------------------------------------------------------------------------


def wide_set() -> dict[str, Any]:
    """20 records x 30 columns; given_name is 'Jonathon' in most, with a one-letter change and a dropped letter;
    street is over 40 characters, so its odd value is highlighted whole."""
    columns = ["id", "given_name", "street"] + [f"column_{c:02d}" for c in range(3, 30)]
    street = "Flat 4, The Old Rectory, 120 Long Meadow Lane, Upper Wickham"
    records = [{c: f"value {r % 3} of {c}" for c in columns} | {"id": f"r{r:03d}", "given_name": "Jonathon",
                                                                  "street": street} for r in range(20)]
    records[3]["given_name"], records[7]["given_name"] = "Jonathan", "Jonthon"
    records[5]["street"] = street.replace("120", "121")
    return {"set_id": "wide", "task_run_id": None, "reason": {"seed_pair_probability": 0.5}, "labels": [],
            "record_keys": [r["id"] for r in records], "records": records, "created_at": None}


def test_short_values_mark_the_characters_that_differ(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    page = signed_in(browser, base, token)
    body = json.dumps(wide_set())
    page.route("**/api/v1/transforms/*/labeling-sets/wide",
               lambda route: route.fulfill(status=200, content_type="application/json", body=body))
    page.goto(f"{base}/transforms/{transform_id(base, token)}/label?set=wide")
    rows = page.locator("#records tbody tr")
    rows.nth(19).wait_for()
    changed = rows.nth(3).locator("td[data-col=given_name]")
    assert "diff" in changed.get_attribute("class") and changed.inner_text() == "Jonathan"
    assert changed.locator("mark.chardiff").all_inner_texts() == ["a"]  # Jonath[a]n against jonathon
    dropped = rows.nth(7).locator("td[data-col=given_name]")
    assert dropped.inner_text() == "Jonthon" and dropped.locator("mark.chardiff.gap").count() == 1
    assert rows.nth(0).locator("td[data-col=given_name].diff").count() == 0  # the common value: no highlight
    long_value = rows.nth(5).locator("td[data-col=street]")  # too long for a character diff: its edges are
    assert "diff" in long_value.get_attribute("class")  # compared, the middle elided around the difference
    assert long_value.locator("mark.chardiff").all_inner_texts() == ["1"]
    assert long_value.inner_text() == "…tory, 121 Long Me…"
    assert long_value.get_attribute("title") == wide_set()["records"][5]["street"]
    assert page.locator("#records td[data-col=given_name] mark.chardiff").count() == 2
    assert rows.nth(1).locator("td[data-col=column_03] mark.chardiff").all_inner_texts() == ["1"]  # value [1] of ..
    cases = page.evaluate("""() => [["Smyth", "smith"], ["John", "jon"], ["abc", "xyz"], ["x".repeat(41), "x"]]
      .map(([v, b]) => { const parts = ui.charDiff(v, b);
        return parts && parts.map((p) => typeof p === "string" ? p : `[${p.textContent}]`).join(""); })""")
    assert cases == ["Sm[y]th", "Jo[h]n", None, None]  # nothing in common, too long: whole-cell highlight
    shot(page, "20-labeling-chardiff")
    page.context.close()


# -- roles ----------------------------------------------------------------------------------------------------


def runs_stub(tid: str) -> str:
    """A task-run list with a RUNNING run: an admin may cancel it, a labeler may not."""
    run = {"id": "run-1", "transform_id": tid, "type": "FIND_MATCHES", "status": "RUNNING", "progress": 0.4,
           "stage": "scoring", "error_message": None, "params": {}, "has_output": False, "output_format": None,
           "created_at": "2024-01-01T00:00:00Z", "started_on": "2024-01-01T00:00:01Z", "completed_on": None,
           "execution_seconds": None}
    return json.dumps({"task_runs": [run]})


def runs_page(browser: Any, base: str, token: str, tid: str) -> Any:
    page = signed_in(browser, base, token)
    body = runs_stub(tid)
    page.route(re.compile(r"/api/v1/transforms/[^/]+/task-runs\?limit=50$"),
               lambda route: route.fulfill(status=200, content_type="application/json", body=body))
    page.goto(f"{base}/transforms/{tid}/runs")
    page.locator('#runs-table tr[data-run="run-1"]').wait_for()
    return page


def test_a_labeler_sees_no_admin_actions(served: tuple[str, str, Path], browser: Any) -> None:
    base, admin, data = served
    labeler = create_labeler(data)
    tid = transform_id(base, admin)
    transform = api_call(base, admin, "GET", f"/transforms/{tid}")

    admin_page = runs_page(browser, base, admin, tid)  # the control: an admin has every action
    assert admin_page.locator("button.cancel").is_visible() and admin_page.locator("#to-edit").is_visible()
    assert all(b.is_visible() for b in admin_page.locator("button.start").all())
    admin_page.context.close()

    page = runs_page(browser, base, labeler, tid)
    page.wait_for_function("() => document.getElementById('whoami').textContent.includes('lena (labeler)')")
    assert page.locator("button.cancel").count() == 0 and page.locator("#to-edit").is_hidden()
    starts = page.locator("button.start")
    assert starts.count() == len(start_buttons()) and not any(b.is_visible() for b in starts.all())
    assert page.locator("#to-label").is_visible() and page.locator(".labeler-only").is_visible()
    shot(page, "21-runs-labeler")

    page.goto(f"{base}/datasets")
    page.locator("#datasets-table a", has_text="people (demo)").wait_for()
    assert page.locator("#upload-section").is_hidden() and page.locator("#upload-file").is_hidden()
    assert page.locator("a.new-transform").count() == 0
    page.goto(f"{base}/datasets/{transform['dataset_id']}")
    page.locator("#preview tbody tr").first.wait_for()
    assert page.locator("#new-transform").is_hidden()
    page.goto(f"{base}/transforms")
    page.locator(f'#transforms-table a[href="/transforms/{tid}/label"]').wait_for()
    assert page.locator("#new-transform").is_hidden() and page.locator("#transforms-table a.settings").count() == 0
    shot(page, "22-transforms-labeler")
    page.goto(f"{base}/transforms/{tid}/edit")
    page.wait_for_function("() => document.getElementById('t-name').value !== ''")
    assert page.locator("#t-name").is_disabled() and page.locator("#t-pr").is_disabled()
    assert page.locator("#transform-form button[type=submit]").is_hidden()
    page.goto(f"{base}/transforms/{tid}/label")
    page.locator("#save-btn").wait_for()  # labeling is what labelers do
    page.context.close()

    with pytest.raises(urllib.error.HTTPError) as refused:  # hiding is a courtesy: the API still refuses
        api_call(base, labeler, "POST", f"/transforms/{tid}/task-runs", {"type": "FIND_MATCHES"})
    assert refused.value.code == 403


# -- the keyboard alone ---------------------------------------------------------------------------------------


def test_the_whole_loop_with_the_keyboard_alone(served: tuple[str, str, Path], browser: Any) -> None:
    """Tab, Enter and the workspace's letter keys only, never a click: sign in, open and save a transform's
    settings, generate and label a set, find matches, open a cluster and see its explained pairs."""
    base, token, _ = served
    tid = transform_id(base, token)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda message: problems.append(message.text)  # what the CSP header blocked
            if "Content Security Policy" in message.text else None)
    keys = page.keyboard

    page.goto(f"{base}/")
    tab_to(page, "#token")
    keys.type(token)
    keys.press("Enter")
    page.wait_for_url(f"{base}/transforms")

    tab_to(page, f'#transforms-table a[href="/transforms/{tid}/edit"]')
    keys.press("Enter")
    page.wait_for_url(f"{base}/transforms/{tid}/edit")
    page.wait_for_function("() => document.getElementById('t-name').value !== ''")
    tab_to(page, "#t-name")
    keys.press("End")
    keys.type(" (keyboard)")
    tab_to(page, "#t-pr")
    keys.press("ArrowRight")  # a slider moves with the arrows; off a preset, Custom is selected
    assert page.is_checked("input[name=pr-preset][value=custom]")
    keys.press("ArrowLeft")
    tab_to(page, "#t-enforce")
    keys.press("Space")
    shot(page, "23-keyboard-transform-settings")
    tab_to(page, "#t-name")
    keys.press("Enter")  # submits the form
    page.wait_for_url(f"{base}/transforms/{tid}/runs")
    saved = api_call(base, token, "GET", f"/transforms/{tid}")
    assert saved["name"].endswith(" (keyboard)") and saved["enforce_provided_labels"] is True

    tab_to(page, "button.start[data-type=LABELING_SET_GENERATION]")
    keys.press("Enter")
    wait_for_run(page, "LABELING_SET_GENERATION", "24-keyboard-runs")
    tab_to(page, 'tr[data-type="LABELING_SET_GENERATION"] a.label-link')
    keys.press("Enter")
    page.wait_for_url(f"{base}/transforms/{tid}/label**")
    rows = page.locator("#records tbody tr")
    rows.first.wait_for()
    assert page.evaluate("document.activeElement.id") == "workspace" and page.evaluate(FOCUS_RING)
    set_id = page.evaluate("new URL(location.href).searchParams.get('set')")
    keys.press("n")  # all different, then the first two records as one entity (a group key moves on)
    keys.press("1")
    keys.press("1")
    shown = rows.evaluate_all("trs => trs.map((tr) => tr.dataset.key)")
    shot(page, "25-keyboard-labeling")
    keys.press("Enter")
    page.wait_for_function(f"() => document.getElementById('notice').textContent.includes('Saved set {set_id}')")
    stored = api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets/{set_id}")
    labels = {label["record_key"]: label["label"] for label in stored["labels"]}
    first, second, *rest = shown
    assert labels[first] == labels[second] and len(set(labels.values())) == len(rest) + 1

    tab_to(page, '.label-bar a[href="runs"]', "Shift+Tab")  # back from the workspace
    keys.press("Enter")
    page.wait_for_url(f"{base}/transforms/{tid}/runs")
    tab_to(page, "button.start[data-type=FIND_MATCHES]")
    keys.press("Enter")
    wait_for_run(page, "FIND_MATCHES", "26-keyboard-find-matches")
    tab_to(page, 'tr[data-type="FIND_MATCHES"] a.matches-link')
    keys.press("Enter")
    page.wait_for_url(f"{base}/transforms/{tid}/matches")
    page.locator("#clusters tbody tr").first.wait_for()
    match_id = page.locator("#clusters tbody tr").first.get_attribute("data-cluster")
    tab_to(page, f'#clusters tr[data-cluster="{match_id}"] button.open-cluster')
    keys.press("Enter")
    check_cluster_pairs(page, base, token, tid, match_id)
    assert page.evaluate("document.activeElement.id") == "same-btn"
    keys.press("Enter")  # same entity: labels for the next round
    page.wait_for_function(f"() => document.getElementById('notice').textContent.includes('cluster {match_id}')")
    shot(page, "27-keyboard-cluster")
    assert not problems, problems
    context.close()


def check_cluster_pairs(page: Any, base: str, token: str, tid: str, match_id: str) -> None:
    """The open cluster lists the same pairs as the API, in the same order, each with its probability and every
    column's contribution."""
    run = api_call(base, token, "GET", f"/transforms/{tid}/task-runs?type=FIND_MATCHES&status=SUCCEEDED")
    expected = api_call(base, token, "GET", f"/task-runs/{run['task_runs'][0]['id']}/clusters/{match_id}/pairs")
    rows = page.locator("#cluster-pairs tbody tr")
    rows.first.wait_for()
    assert rows.count() == len(expected["pairs"]) >= 1
    columns = list(expected["pairs"][0]["contributions"])
    assert page.locator("#cluster-pairs thead th").all_inner_texts() == ["Pair", "Probability", *columns]
    for i, pair in enumerate(expected["pairs"]):
        row = rows.nth(i)
        assert row.get_attribute("data-pair") == f"{pair['key_a']}|{pair['key_b']}"
        assert float(row.locator("td.prob").inner_text()) == pytest.approx(pair["probability"], abs=5e-4)
        shown = row.locator("td.contrib").evaluate_all(
            "tds => tds.map(td => td.dataset.value === undefined ? null : Number(td.dataset.value))")
        assert shown == [pair["contributions"][c] for c in columns]
    assert any(v for p in expected["pairs"] for v in p["contributions"].values())  # not all zero


FOCUSABLE = """() => {
  const all = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')];
  const shown = all.filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length
    && getComputedStyle(el).visibility !== "hidden" && !(el.type === "radio" && !el.checked));
  shown.forEach((el, i) => { el.dataset.kb = i; });
  return shown.length;
}"""
# what looks clickable (pointer cursor) but is neither focusable nor inside a focusable region (the labeling rows
# are inside the workspace, whose arrow keys move between them)
CLICK_ONLY = """() => [...document.querySelectorAll('body *')].filter((el) =>
  getComputedStyle(el).cursor === "pointer" && el.getClientRects().length
  && !el.closest('a[href], button, input, select, summary, label, [tabindex]:not([tabindex="-1"])'))
  .map((el) => el.outerHTML.slice(0, 80))"""


def test_every_control_of_every_page_is_reached_by_tab(served: tuple[str, str, Path], browser: Any) -> None:
    """Each page's visible links, buttons, inputs and scrollable regions are reached by Tab alone (one stop per
    radio group), each with a focus ring: nothing works by mouse only."""
    base, token, _ = served
    tid = transform_id(base, token)
    dataset_id = api_call(base, token, "GET", f"/transforms/{tid}")["dataset_id"]
    page = signed_in(browser, base, token)
    loaded = "!document.querySelector('{}').textContent.includes('Loading')"
    ready = {"/": "ui.me", "/datasets": loaded.format("#datasets-table"), f"/datasets/{dataset_id}": "#preview tr",
             "/transforms": loaded.format("#transforms-table"), f"/transforms/{tid}/runs": loaded.format("#runs-table"),
             f"/transforms/{tid}/edit": "!!document.getElementById('t-name').value", "/transforms/new": "#t-pk option",
             f"/transforms/{tid}/label": "#records tr, #empty:not([hidden])", f"/transforms/{tid}/quality": "ui.me",
             f"/transforms/{tid}/matches": "#clusters tbody tr, #no-matches:not([hidden])",
             "/users": loaded.format("#users-table")}
    for path, condition in ready.items():
        page.goto(base + path)
        page.wait_for_function("() => " + (condition if condition.startswith(("ui.", "!")) else
                                           f"document.querySelector({json.dumps(condition)})"))
        page.wait_for_load_state("networkidle")
        assert page.evaluate(CLICK_ONLY) == [], path
        total, reached = page.evaluate(FOCUSABLE), set()
        page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(total + 5):
            page.keyboard.press("Tab")
            index = page.evaluate("document.activeElement.dataset.kb ?? null")
            if index is not None:
                assert page.evaluate(FOCUS_RING), f"{path}: no focus ring on control {index}"
                reached.add(int(index))
            if len(reached) == total:
                break
        assert len(reached) == total, f"{path}: {total - len(reached)} of {total} controls never reached by Tab"
    page.context.close()
