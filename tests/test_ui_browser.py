"""The web labeling UI end to end: a real ``matcher serve`` (with its worker) driven by headless Chromium.

Needs Debian's Chromium at /usr/bin/chromium and the ``playwright`` Python package (no browser download):
    apt-get install -y chromium && pip install playwright
Missing either is a FAILURE, not a skip: CI installs both. Screenshots go to test-artifacts/screenshots/.

Predicates of ``wait_for_function`` are arrow functions: Playwright evals a bare expression inside the page,
which the app's Content-Security-Policy (no 'unsafe-eval') refuses, as it should.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from serve_support import running_serve

from matcher.active import SET_NAMESPACE

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("MATCHER_TEST_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
RUN_TIMEOUT_MS = 300_000  # the machine may be busy: generous waits for task runs


class _ScreenshotSummary:
    """Registered as a plugin by the browser fixture: names the screenshot folder at the end of the session."""

    @staticmethod
    def pytest_terminal_summary(terminalreporter: Any) -> None:
        terminalreporter.write_line(f"web UI screenshots: {SHOTS}")


# records the upload bar in sessionStorage: it survives the page's move to the dataset preview
WATCH_UPLOAD = """() => {
  const box = document.getElementById("upload-progress"), bar = box.querySelector(".bar");
  sessionStorage.setItem("upload-progress", "[]");
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("upload-progress"));
    seen.push({ visible: !box.hidden, value: Number(bar.getAttribute("aria-valuenow")), width: bar.style.width });
    sessionStorage.setItem("upload-progress", JSON.stringify(seen));
  }).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow", "style"] });
}"""


def api_call(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def demo_transform_id(base: str, token: str) -> str:
    return next(t["id"] for t in api_call(base, token, "GET", "/transforms")["transforms"]
                if t["name"] == "people (demo)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``matcher serve`` WITH its worker on a fresh data directory (demo dataset and transform loaded)."""
    with running_serve(tmp_path_factory.mktemp("ui") / "data") as (base, token):
        yield base, token


@contextmanager
def chromium(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (shared with the other browser test modules)."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(the web UI tests need it; they do not skip)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: `.venv/bin/pip install playwright` "
                    "(no `playwright install` needed: the tests use Debian's Chromium)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    if not request.config.pluginmanager.has_plugin("matcher-ui-screenshots"):
        request.config.pluginmanager.register(_ScreenshotSummary(), "matcher-ui-screenshots")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for_run(page: Any, run_type: str, name: str) -> list[int]:
    """Watch the run's row until SUCCEEDED (fails fast on FAILED); returns the progress values seen."""
    row = page.locator(f'#runs-table tr[data-type="{run_type}"]').first
    row.wait_for(timeout=30_000)
    seen: list[int] = []
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    took_running = False
    while time.monotonic() < deadline:
        status = row.get_attribute("data-status")
        value = row.locator('[role="progressbar"]').get_attribute("aria-valuenow")
        if value is not None and (not seen or seen[-1] != int(value)):
            seen.append(int(value))
        if status in ("RUNNING", "STARTING") and not took_running and seen and seen[-1] > 0:
            shot(page, f"{name}-running")
            took_running = True
        if status == "SUCCEEDED":
            return seen
        if status in ("FAILED", "TIMEOUT", "STOPPED"):
            pytest.fail(f"{run_type} ended {status}: {row.locator('td.err').inner_text()}")
        page.wait_for_timeout(250)
    pytest.fail(f"{run_type} did not finish in time; progress seen {seen}")


def test_a_wide_set_scrolls_with_a_sticky_first_column(server: tuple[str, str], browser: Any) -> None:
    """20 records x 30 columns (served by a stubbed API answer): horizontal scroll, group column stays put."""
    base, token = server
    tid = demo_transform_id(base, token)
    columns = ["id"] + [f"column_{c:02d}" for c in range(1, 30)]
    records = [{c: (f"r{r:03d}" if c == "id" else f"value {r % 3} of {c}") for c in columns} for r in range(20)]
    wide = {"set_id": "wide", "task_run_id": None, "reason": {"seed_pair_probability": 0.5}, "labels": [],
            "record_keys": [r["id"] for r in records], "records": records, "created_at": None}
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(f"localStorage.setItem('matcher.token', {json.dumps(token)})")
    page = context.new_page()
    page.route("**/api/v1/transforms/*/labeling-sets/wide",
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(wide)))
    page.goto(f"{base}/transforms/{tid}/label?set=wide")
    page.locator("#records tbody tr").nth(19).wait_for()
    assert page.locator("#records thead th").count() == 31
    first_cell = page.locator("#records tbody tr").first.locator("th")
    before = first_cell.bounding_box()
    assert page.evaluate("document.getElementById('workspace').scrollWidth > "
                         "document.getElementById('workspace').clientWidth")
    page.evaluate("document.getElementById('workspace').scrollLeft = 2000")
    page.wait_for_timeout(100)
    assert first_cell.bounding_box()["x"] == before["x"]  # sticky
    key_cell = page.locator("#records tbody tr").first.locator("td.key-col")
    assert key_cell.is_visible() and key_cell.bounding_box()["x"] < 200  # the key sticks too
    assert page.locator("#records td.diff").count() > 0
    shot(page, "00-labeling-wide-set")
    context.close()


@pytest.mark.parametrize("target", ["/%5Cevil.example", "//evil.example", "https:evil.example", "/%09/evil.example"])
def test_sign_in_never_leaves_the_site(server: tuple[str, str], browser: Any, target: str) -> None:
    """?next=/\\evil.example was an open redirect (Chromium reads the backslash as a slash)."""
    base, token = server
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/?next={target}")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_url(f"{base}/transforms")
    context.close()


def test_the_dataset_page_names_the_columns_unique_and_never_empty(server: tuple[str, str], browser: Any) -> None:
    """Found at upload (the demo's records.csv), before a transform's primary key is chosen."""
    base, token = server
    records = pd.read_csv(ROOT / "examples" / "people" / "records.csv", dtype=str, keep_default_na=False)
    records = records.apply(lambda column: column.str.strip())
    unique = [c for c in records.columns if records[c].ne("").all() and records[c].is_unique]
    assert "id" in unique and len(unique) < len(records.columns)
    dataset_id = next(d["id"] for d in api_call(base, token, "GET", "/datasets")["datasets"]
                      if d["name"] == "people (demo)")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(f"localStorage.setItem('matcher.token', {json.dumps(token)})")
    page = context.new_page()
    page.goto(f"{base}/datasets/{dataset_id}")
    page.wait_for_function("() => document.getElementById('key-help').textContent.length > 0")
    assert page.inner_text("#key-help") == f"Unique and never empty, so usable as the primary key: {', '.join(unique)}."
    assert page.locator("#columns li:has(.key) strong").all_inner_texts() == unique
    shot(page, "00-dataset-key-help")
    context.close()


def test_the_matches_page_without_a_find_matches_run_says_so(server: tuple[str, str], browser: Any) -> None:
    base, token = server
    tid = demo_transform_id(base, token)  # the demo: never matched
    context = browser.new_context(viewport={"width": 1280, "height": 600})
    context.add_init_script(f"localStorage.setItem('matcher.token', {json.dumps(token)})")
    page = context.new_page()
    page.goto(f"{base}/transforms/{tid}/matches")
    page.locator("#no-matches").wait_for(state="visible")
    assert page.locator("#clusters-section").is_hidden() and page.locator("#error").is_hidden()
    shot(page, "00-matches-none")
    context.close()


def test_label_a_set_with_the_keyboard_then_evaluate_and_find_matches(server: tuple[str, str], browser: Any) -> None:
    base, token = server
    demo_id = demo_transform_id(base, token)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda message: problems.append(message.text)  # what the CSP header blocked
            if "Content Security Policy" in message.text else None)

    # sign in: a wrong token is a readable error, the right one shows name and role in the header
    page.goto(f"{base}/transforms/{demo_id}/runs")
    page.wait_for_url(re.compile(r"/\?next="))
    page.fill("#token", "not-a-token")
    page.press("#token", "Enter")
    page.locator("#error").wait_for(state="visible")
    assert "Unauthorized" in page.inner_text("#error") or "token" in page.inner_text("#error").lower()
    shot(page, "01-signin-error")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_url(f"{base}/transforms/{demo_id}/runs")  # back where we were sent from
    page.wait_for_function("() => document.getElementById('whoami').textContent.includes('admin (admin)')")

    # datasets: list, upload with a progress bar (watched until 100%), preview with types
    page.goto(f"{base}/datasets")
    page.locator("#datasets-table a", has_text="people (demo)").wait_for()
    page.set_input_files("#upload-file", str(ROOT / "tests" / "fixtures" / "people" / "records.csv"))
    page.fill("#upload-name", "people fixture")
    shot(page, "02-datasets-upload")
    page.evaluate(WATCH_UPLOAD)  # the page leaves for the preview as soon as the upload is done
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/datasets/[^/]+$"))
    progress = json.loads(page.evaluate("sessionStorage.getItem('upload-progress') || '[]'"))
    assert progress and progress[-1] == {"visible": True, "value": 100, "width": "100%"}, progress
    dataset_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.locator("#preview tbody tr").first.wait_for()
    assert page.locator("#preview tbody tr").count() == 20
    assert "people fixture" in page.inner_text("h1")
    assert page.locator("#columns li").count() >= 5
    shot(page, "02-dataset-preview")

    # a new transform on that dataset, from its preview: pick the primary key, set the knobs with presets/sliders
    page.click("#new-transform")
    page.wait_for_url(re.compile(rf"/transforms/new\?dataset={dataset_id}$"))
    page.wait_for_function("() => document.querySelectorAll('#t-pk option').length > 0")
    assert page.input_value("#t-dataset") == dataset_id
    assert "email (email)" in page.locator("#t-pk option").all_inner_texts()
    page.select_option("#t-pk", "email")
    page.select_option("#t-pk", "id")
    page.fill("#t-name", "people fixture transform")
    page.check("input[name=pr-preset][value='0.9']")
    assert page.input_value("#t-pr") == "0.9" and page.inner_text("output[for=t-pr]") == "0.90"
    page.focus("#t-ac")
    page.keyboard.press("ArrowRight")
    assert page.is_checked("input[name=ac-preset][value=custom]") and page.input_value("#t-ac") == "0.51"
    page.check("input[name=ac-preset][value='0.5']")
    page.check("input[name=pr-preset][value='0.5']")
    shot(page, "03-transform-new")
    page.click("#transform-form button[type=submit]")
    page.wait_for_url(re.compile(r"/transforms/[^/]+/runs$"))
    tid = page.url.rsplit("/", 2)[-2]
    assert tid != demo_id
    created = api_call(base, token, "GET", f"/transforms/{tid}")
    assert (created["name"], created["dataset_id"], created["primary_key"]) == (
        "people fixture transform", dataset_id, "id")
    assert (created["precision_recall_tradeoff"], created["accuracy_cost_tradeoff"]) == (0.5, 0.5)
    page.goto(f"{base}/datasets")
    page.locator("#datasets-table a", has_text="people fixture").wait_for()
    shot(page, "03-datasets")

    # transforms: the new one is listed (with its pages); its settings page changes a flag
    page.goto(f"{base}/transforms")
    page.locator("#transforms-table a", has_text="people (demo)").first.wait_for()
    listed = page.locator("#transforms-table tr", has_text="people fixture transform")
    listed.locator(f'a[href="/transforms/{tid}/matches"]').wait_for()
    shot(page, "04-transforms")
    page.goto(f"{base}/transforms/{tid}/edit")
    page.wait_for_function("() => document.getElementById('t-name').value !== ''")
    page.check("input[name=pr-preset][value='0.9']")
    assert page.input_value("#t-pr") == "0.9"
    page.check("input[name=pr-preset][value='0.5']")
    page.check("#t-enforce")
    page.fill("#t-survivorship", '{"email": {"rule": "longest"}}')
    shot(page, "05-transform-settings")
    page.click("#transform-form button[type=submit]")
    page.wait_for_url(f"{base}/transforms/{tid}/runs")
    saved = api_call(base, token, "GET", f"/transforms/{tid}")
    assert (saved["precision_recall_tradeoff"], saved["enforce_provided_labels"]) == (0.5, True)
    assert saved["survivorship"] == {"email": {"rule": "longest"}}

    # task runs: generate labeling sets, watch the progress bar until SUCCEEDED
    page.click("button.start[data-type=LABELING_SET_GENERATION]")
    seen = wait_for_run(page, "LABELING_SET_GENERATION", "06-runs-labeling")
    assert seen[-1] == 100
    shot(page, "07-runs-labeling-done")
    page.locator('tr[data-type="LABELING_SET_GENERATION"] a', has_text="Label these sets").click()

    # the labeling workspace: keyboard only
    page.wait_for_url(re.compile(rf"/transforms/{tid}/label"))
    rows = page.locator("#records tbody tr")
    rows.first.wait_for()
    n = rows.count()
    assert n >= 3
    assert "sets done" in page.inner_text("#set-progress") and "Why this set" in page.inner_text("#reason")
    set_id = page.evaluate("new URL(location.href).searchParams.get('set')")
    keys = ["1", "1", "2"] + list("3456789abcdefghilmopqrtvwxyz")[: n - 3]
    for key in keys:  # a group key moves on to the next record
        page.keyboard.press(key)
    page.keyboard.press("x")  # a mistake on the last record...
    page.keyboard.press("u")  # ...undone
    assert rows.nth(n - 1).locator(".group").inner_text() == keys[-1]
    assert [rows.nth(i).locator(".group").inner_text() for i in range(3)] == ["1", "1", "2"]
    page.reload()  # the draft survives a reload
    rows.first.wait_for()
    assert rows.nth(1).locator(".group").inner_text() == "1" and "Restored" in page.inner_text("#notice")
    shot(page, "08-labeling-workspace")
    shown = rows.evaluate_all("trs => trs.map((tr) => tr.dataset.key)")  # the model's groups first: not set order
    page.locator("#workspace").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.getElementById('notice').textContent.includes('Saved set {set_id}')")
    assert page.evaluate("new URL(location.href).searchParams.get('set')") != set_id  # the next set is open
    stored = api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets/{set_id}")
    by_key = {label["record_key"]: label for label in stored["labels"]}
    assert len(by_key) == n and {label["labeled_by"] for label in stored["labels"]} == {"admin"}
    first = [by_key[k]["label"] for k in shown[:3]]
    assert first[0] == first[1] != first[2]
    assert "1 sets done" in page.inner_text("#set-progress")
    shot(page, "09-labeling-next-set")
    second = page.evaluate("new URL(location.href).searchParams.get('set')")
    page.keyboard.press("n")  # all different: each record its own group
    groups = [rows.nth(i).locator(".group").inner_text() for i in range(rows.count())]
    assert len(set(groups)) == len(groups) and "·" not in groups
    page.keyboard.press("u")
    assert rows.first.locator(".group").inner_text() == "·"
    page.keyboard.press("s")  # skip to the next waiting set
    page.wait_for_function(f"() => new URL(location.href).searchParams.get('set') !== '{second}'")

    # evaluation, then the quality page's charts
    page.goto(f"{base}/transforms/{tid}/runs")
    page.click("button.start[data-type=EVALUATION]")
    wait_for_run(page, "EVALUATION", "10-runs-evaluation")
    page.goto(f"{base}/transforms/{tid}/quality")
    page.locator("#metrics").wait_for(state="visible")
    assert page.locator("#kpis .kpi").count() >= 5
    assert page.locator("#importance svg rect").count() >= 1
    assert page.locator("#confusion td").count() == 4
    page.locator("#score-histogram svg").wait_for()
    assert page.locator("#score-histogram svg rect.bar").count() >= 1
    assert page.locator("#score-histogram svg line.threshold").count() == 1
    page.locator("#learning-curve svg").wait_for()
    assert page.locator("#learning-curve svg circle.point").count() == 1  # one evaluation so far
    assert "evaluate again" in page.inner_text("#learning-curve")
    assert "Not enough labeled rounds to estimate" in page.inner_text("#stop-advice")  # a few sets only
    shot(page, "11-quality")

    # an older evaluation without score_histogram: the histogram is skipped with a note, the rest still renders
    def strip_histogram(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["evaluation_metrics"].pop("score_histogram", None)
        route.fulfill(response=response, json=body)

    page.route(f"**/api/v1/transforms/{tid}", strip_histogram)
    page.reload()
    page.locator("#learning-curve svg").wait_for()
    assert page.locator("#score-histogram svg").count() == 0
    assert "predates it" in page.inner_text("#score-histogram")
    assert page.locator("#importance svg rect").count() >= 1
    page.unroute(f"**/api/v1/transforms/{tid}")

    # find matches: the download link appears and downloads
    page.goto(f"{base}/transforms/{tid}/runs")
    page.click("button.start[data-type=FIND_MATCHES]")
    wait_for_run(page, "FIND_MATCHES", "12-runs-find-matches")
    link = page.locator('tr[data-type="FIND_MATCHES"] a.download-link')
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename
    shot(page, "13-runs-done")

    # the Matches page: clusters largest first (then least confident); open one, label it, split a record
    page.locator('tr[data-type="FIND_MATCHES"] a.matches-link').click()
    page.wait_for_url(f"{base}/transforms/{tid}/matches")
    clusters = page.locator("#clusters tbody tr")
    clusters.first.wait_for()
    listed_clusters = [(int(clusters.nth(i).locator("td").nth(1).inner_text()),
                        float(clusters.nth(i).locator("td").nth(2).inner_text().replace("–", "inf")))
                       for i in range(clusters.count())]
    assert all(size >= 2 for size, _ in listed_clusters)
    assert listed_clusters == sorted(listed_clusters, key=lambda c: (-c[0], c[1]))
    find_run = api_call(base, token, "GET", f"/transforms/{tid}/task-runs?type=FIND_MATCHES&status=SUCCEEDED")
    run_id = find_run["task_runs"][0]["id"]
    total = api_call(base, token, "GET", f"/task-runs/{run_id}/clusters?limit=1")["total_clusters"]
    if total > len(listed_clusters):  # pages of 100 clusters: the rest come on demand
        page.click("#more-clusters")
        page.wait_for_function(f"() => document.querySelectorAll('#clusters tbody tr').length === {total}")
        assert page.locator("#more-clusters").is_hidden()
    shot(page, "14-matches")
    match_id = clusters.first.get_attribute("data-cluster")
    size = listed_clusters[0][0]
    clusters.first.locator("button.open-cluster").click()
    page.locator("#cluster").wait_for(state="visible")
    assert page.locator("#cluster-records thead th[data-key]").count() == size
    keys = page.locator("#cluster-records thead th[data-key]").evaluate_all("ths => ths.map(th => th.dataset.key)")
    pair_rows = page.locator("#cluster-pairs tbody tr")
    pair_rows.first.wait_for()  # the cluster's pairs, each with its probability and per-column contributions
    assert pair_rows.count() >= size - 1 and page.locator("#cluster-pairs td.contrib").count() >= pair_rows.count()
    shot(page, "15-matches-cluster")
    before = api_call(base, token, "GET", f"/transforms/{tid}")["label_count"]
    page.click("#same-btn")
    page.wait_for_function(f"() => document.getElementById('notice').textContent.includes('cluster {match_id}')")
    set_id = str(uuid.uuid5(SET_NAMESPACE, "|".join(sorted(keys))))  # the API names ad-hoc sets by their keys
    reviewed = api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets/{set_id}")
    assert sorted(reviewed["record_keys"]) == sorted(keys)
    assert len({label["label"] for label in reviewed["labels"]}) == 1
    assert {label["labeled_by"] for label in reviewed["labels"]} == {"admin"}
    assert api_call(base, token, "GET", f"/transforms/{tid}")["label_count"] == before + size
    assert clusters.first.locator("td.reviewed").inner_text() == "same entity"
    page.locator(f'#cluster-records th[data-key="{keys[-1]}"] button.not-match').click()
    page.wait_for_function("() => document.getElementById('cluster-state').textContent.includes('Split out')")
    page.wait_for_function(f"() => document.getElementById('notice').textContent.includes('cluster {match_id}') && "
                           "!document.getElementById('notice').textContent.endsWith('same entity')")
    split = api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets/{set_id}")
    by_key = {label["record_key"]: label["label"] for label in split["labels"]}
    assert len(by_key) == size and by_key[keys[-1]] != by_key[keys[0]]
    if size > 2:
        assert len({by_key[k] for k in keys[:-1]}) == 1
    shot(page, "16-matches-split")

    # a second evaluation with the cluster's labels added: the learning curve joins two points, in run order
    run = api_call(base, token, "POST", f"/transforms/{tid}/task-runs", {"type": "EVALUATION", "params": {}})
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while run["status"] not in ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED") and time.monotonic() < deadline:
        time.sleep(0.25)
        run = api_call(base, token, "GET", f"/task-runs/{run['id']}")
    assert run["status"] == "SUCCEEDED", run
    page.goto(f"{base}/transforms/{tid}/quality")
    page.locator("#learning-curve svg").wait_for()
    assert page.locator("#learning-curve svg circle.point").count() == 2
    assert page.locator("#learning-curve svg polyline.curve").count() == 1
    assert "2 evaluations" in page.inner_text("#learning-curve")
    page.locator("#score-histogram svg").wait_for()
    shot(page, "17-quality-learning-curve")
    assert not problems, problems
    context.close()
