"""The labeling screen a labeler is fast in (issue 18), against a real ``matcher serve`` (with its worker) in headless
Chromium: rows in the model's suggested groups, differences against the focused record, a group key that moves on,
a "no group yet" alert that clears, help that lists the keys that group, long e-mails shown where they differ, and
the step bar of a transform's pages (helpers shared with test_ui_browser and test_ui_roles_keyboard)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import running_serve
from test_ui_browser import RUN_TIMEOUT_MS, api_call, shot
from test_ui_roles_keyboard import signed_in, transform_id

COMMANDS = ["j", "k", "n", "s", "u"]
GROUP_KEYS = list("123456789abcdefghilmopqrtvwxyz")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(base URL, admin token, data directory) of a ``matcher serve`` with the demo dataset and transform."""
    data = tmp_path_factory.mktemp("ui-labeling") / "data"
    with running_serve(data) as (base, token):
        yield base, token, data


def stub_set(page: Any, set_id: str, records: list[dict[str, str]], groups: list[list[str]] | None) -> None:
    """Serve one labeling set (so the test chooses its values) from the page's own API calls."""
    body = json.dumps({"set_id": set_id, "task_run_id": None, "reason": {"seed_pair_probability": 0.5},
                       "labels": [], "record_keys": [r["id"] for r in records], "records": records,
                       "created_at": None, "suggested_groups": groups})
    page.route(f"**/api/v1/transforms/*/labeling-sets/{set_id}",
               lambda route: route.fulfill(status=200, content_type="application/json", body=body))


def open_stub(browser: Any, base: str, token: str, set_id: str, records: list[dict[str, str]],
              groups: list[list[str]] | None = None) -> Any:
    page = signed_in(browser, base, token)
    stub_set(page, set_id, records, groups)
    page.goto(f"{base}/transforms/{transform_id(base, token)}/label?set={set_id}")
    page.locator("#records tbody tr").nth(len(records) - 1).wait_for()
    return page


def shown_keys(page: Any) -> list[str]:
    return page.locator("#records tbody tr").evaluate_all("trs => trs.map((tr) => tr.dataset.key)")


def focused_key(page: Any) -> str:
    return page.locator('#records tbody tr[aria-selected="true"]').get_attribute("data-key")


def highlighted(page: Any) -> set[tuple[str, str]]:
    return set(map(tuple, page.locator("#records td.diff").evaluate_all(
        "tds => tds.map((td) => [td.closest('tr').dataset.key, td.dataset.col])")))


FOUR = [{"id": "a", "name": "Anna", "city": "Leeds"}, {"id": "b", "name": "Anna", "city": "York"},
        {"id": "c", "name": "Ben", "city": "Leeds"}, {"id": "d", "name": "Ben", "city": "York"}]


def test_rows_sit_in_suggested_groups_and_differences_follow_the_focused_record(
        served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    page = open_stub(browser, base, token, "four", FOUR, [["d", "a"], ["b"], ["c"]])
    assert shown_keys(page) == ["d", "a", "b", "c"]  # the model's pair first, then the rest in the set's order
    assert page.locator("#records tbody tr.suggested").evaluate_all("trs => trs.map((tr) => tr.dataset.key)") == [
        "d", "a"]
    assert focused_key(page) == "d"
    assert highlighted(page) == {("a", "name"), ("a", "city"), ("b", "name"), ("c", "city")}  # against d: Ben, York
    page.keyboard.press("j")
    assert focused_key(page) == "a"  # now against a (Anna, Leeds): a majority would mark the same cells twice over
    assert highlighted(page) == {("d", "name"), ("d", "city"), ("b", "city"), ("c", "name")}
    shot(page, "30-labeling-suggested-groups")
    page.context.close()

    plain = open_stub(browser, base, token, "no-guess", FOUR, None)  # a set without a guess keeps its order
    assert shown_keys(plain) == ["a", "b", "c", "d"]
    assert plain.locator("#records tbody tr.suggested").count() == 0
    plain.context.close()


def test_a_group_key_moves_on_and_the_missing_alert_clears(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    page = open_stub(browser, base, token, "three", FOUR[:3], None)
    assert focused_key(page) == "a"
    page.keyboard.press("1")
    assert focused_key(page) == "b" and page.locator('tr[data-key="a"] .group').inner_text() == "1"
    page.keyboard.press("Enter")  # two records have no group: the alert says so and focus goes to the first
    alert = page.locator("#error")
    alert.wait_for(state="visible")
    assert alert.inner_text().startswith("2 records have no group yet") and focused_key(page) == "b"
    page.keyboard.press("1")
    assert alert.inner_text().startswith("1 record has no group yet") and focused_key(page) == "c"
    page.keyboard.press("2")
    assert alert.is_hidden()  # every record has a group: nothing left to complain about
    assert focused_key(page) == "c"  # the last record keeps the focus
    page.keyboard.press("u")  # undo takes the last group back, the focus stays
    assert focused_key(page) == "c" and page.locator('tr[data-key="c"] .group').inner_text() == "·"
    page.context.close()


def test_the_help_lists_the_keys_that_group_and_the_commands_apart(served: tuple[str, str, Path],
                                                                   browser: Any) -> None:
    base, token, _ = served
    page = open_stub(browser, base, token, "help", FOUR[:2], None)
    page.click(".keys summary")
    listed = page.locator("#group-keys kbd").all_inner_texts()
    assert listed == GROUP_KEYS and not set(listed) & set(COMMANDS)
    commands = page.locator("#command-keys-help kbd").all_inner_texts()
    assert set(COMMANDS) <= set(commands) and "Enter" in commands
    shot(page, "31-labeling-help")
    for key in listed:  # each listed key does group (then moves on; k comes back)
        page.keyboard.press(key)
        assert page.locator('tr[data-key="a"] .group').inner_text() == key
        page.keyboard.press("k")
    page.keyboard.press("u")  # ...and a command letter is not a group
    assert page.locator('tr[data-key="a"] .group').inner_text() == listed[-2]
    page.context.close()


def test_a_long_email_shows_where_it_differs(served: tuple[str, str, Path], browser: Any) -> None:
    base, token, _ = served
    domain = "@example-mail-provider.co.uk"
    records = [{"id": "a", "email": "jonathan.alexander.smithson.1984" + domain},
               {"id": "b", "email": "jonathan.alexander.smithson.1948" + domain},
               {"id": "c", "email": "jonathan.alexander.smithson.1984" + domain}]
    page = open_stub(browser, base, token, "emails", records, None)
    focused = page.locator('tr[data-key="a"] td[data-col=email]')
    assert focused.evaluate("td => td.scrollWidth > td.clientWidth")  # the whole value does not fit: it is cut
    cell = page.locator('tr[data-key="b"] td[data-col=email]')
    mark = cell.locator("mark.chardiff")
    assert mark.all_inner_texts() == ["48"] and cell.get_attribute("title") == records[1]["email"]
    box, marked = cell.bounding_box(), mark.bounding_box()
    assert box["x"] <= marked["x"] and marked["x"] + marked["width"] <= box["x"] + box["width"]  # in full view
    assert cell.evaluate("td => td.scrollWidth <= td.clientWidth")  # nothing hidden past the cell's edge
    assert cell.inner_text().startswith("…") and cell.inner_text().endswith("…")
    assert page.locator('tr[data-key="c"] td[data-col=email].diff').count() == 0  # the same e-mail: no highlight
    shot(page, "32-labeling-long-email")
    page.context.close()


# -- on the real data: the model's groups and the step bar ----------------------------------------------------


def run_and_wait(base: str, token: str, tid: str, run_type: str, params: dict[str, Any] | None = None) -> None:
    run = api_call(base, token, "POST", f"/transforms/{tid}/task-runs", {"type": run_type, "params": params or {}})
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while run["status"] not in ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED") and time.monotonic() < deadline:
        time.sleep(0.25)
        run = api_call(base, token, "GET", f"/task-runs/{run['id']}")
    assert run["status"] == "SUCCEEDED", run


def step_bar(page: Any, base: str, path: str) -> tuple[str, str, str]:
    """(the step marked next, the sentence after "Next:", the status help) once the bar has drawn."""
    page.goto(base + path)
    page.wait_for_function("() => document.querySelector('#steps .next-step') !== null")
    bar = page.locator("#steps")
    assert bar.locator("li.next a[aria-current=step]").count() == 1
    return bar.get_attribute("data-next"), page.inner_text("#steps .next-step"), page.inner_text("#steps .status-help")


def test_real_sets_follow_the_models_groups_and_the_step_bar_says_what_next(served: tuple[str, str, Path],
                                                                            browser: Any) -> None:
    base, token, _ = served
    tid = transform_id(base, token)
    page = signed_in(browser, base, token)
    step, text, status = step_bar(page, base, f"/transforms/{tid}/runs")
    assert (step, status.split(":")[0]) == ("Label", "NOT_READY") and "generate labeling sets" in text
    assert "Evaluate is refused" in status  # what NOT_READY means, not just that it is
    assert page.locator("#steps li.done").all_inner_texts() == ["✓ Upload", "✓ Transform"]
    shot(page, "33-steps-not-ready")

    page.click("button.start[data-type=LABELING_SET_GENERATION]")  # the bar moves on when the run ends, no reload
    page.wait_for_function("() => document.querySelector('#steps .next-step').textContent.includes('waiting')",
                           timeout=RUN_TIMEOUT_MS)
    waiting = len(api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets")["labeling_sets"])
    assert f"label a set in the labeling workspace ({waiting} waiting)" in page.inner_text("#steps .next-step")
    step, text, _ = step_bar(page, base, f"/transforms/{tid}/quality")
    assert step == "Label" and f"({waiting} waiting)" in text

    sets = [api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets/{s['set_id']}")
            for s in api_call(base, token, "GET", f"/transforms/{tid}/labeling-sets")["labeling_sets"]]
    assert all(sorted(k for g in s["suggested_groups"] for k in g) == sorted(s["record_keys"]) for s in sets)
    grouped = [s for s in sets if any(len(g) > 1 for g in s["suggested_groups"])]
    assert grouped, "the demo has duplicates: some set holds a suggested group"
    # a set whose groups reorder its rows, when there is one: the test then sees the order move
    chosen = next((s for s in grouped if [k for g in s["suggested_groups"] for k in g] != s["record_keys"]),
                  grouped[0])
    page.goto(f"{base}/transforms/{tid}/label?set={chosen['set_id']}")
    page.locator("#records tbody tr").nth(len(chosen["record_keys"]) - 1).wait_for()
    assert shown_keys(page) == [k for g in chosen["suggested_groups"] for k in g]
    together = [k for g in chosen["suggested_groups"] if len(g) > 1 for k in g]
    assert page.locator("#records tbody tr.suggested").evaluate_all(
        "trs => trs.map((tr) => tr.dataset.key)") == together
    shot(page, "34-labeling-real-suggested-groups")

    labels = [{"record_key": k, "label": f"g{i}"} for i, g in enumerate(chosen["suggested_groups"]) for k in g]
    api_call(base, token, "PUT", f"/transforms/{tid}/labeling-sets/{chosen['set_id']}", {"labels": labels})
    step, text, status = step_bar(page, base, f"/transforms/{tid}/label")
    assert step == "Evaluate" and status.startswith(f"READY: it has {len(labels)} labels")

    run_and_wait(base, token, tid, "EVALUATION")
    step, text, _ = step_bar(page, base, f"/transforms/{tid}/matches")
    assert step == "Find matches" and "Evaluate" in page.locator("#steps li.done").all_inner_texts()[-1]

    run_and_wait(base, token, tid, "FIND_MATCHES")
    step, text, _ = step_bar(page, base, f"/transforms/{tid}/edit")
    assert step == "Review" and "confirm or split clusters" in text
    shot(page, "35-steps-review")
    page.context.close()
