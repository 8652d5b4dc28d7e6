"""The labeling workforce in the web UI (issue 18), against a real ``matcher serve`` (with its worker) in headless
Chromium: a labeler's queue ("Next set for me" until none is left), a blind set (nothing of the model for the
labeler, everything for the admin), adjudication (a reviewer decides a split set and it leaves the queue), the admin's
gold switch, the Team page (review queue, labelers with their flags, the audit trail and its CSV) and the labeling
policy on the transform's settings page (a bad value named next to its field, nothing saved).

Two labelers answer each set (majority vote): ana in the browser, every record apart; ben through the API, every
record together, so every pair splits and every set goes to review."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from serve_support import running_serve
from test_api_workforce import call
from test_ui_browser import RUN_TIMEOUT_MS, shot
from test_ui_roles_keyboard import signed_in, tab_to

# the label page shows set `id` (null-safe: it may run on the page being left)
SET_SHOWN = "(id) => (document.getElementById('set-title')?.textContent || '').startsWith(`Set ${id}:`)"
POLICY = {"answers_per_set": 2, "blind": True, "consolidation": "majority_vote", "min_pairs_to_flag": 5}


@dataclass
class Team:
    base: str
    tokens: dict[str, str]  # admin, ana and ben (labelers), rita (reviewer)
    transform_id: str
    set_ids: list[str]

    def api(self, who: str, method: str, path: str, body: Any = None) -> Any:
        status, answer = call(self.base, self.tokens[who], method, f"/transforms/{self.transform_id}{path}", body)
        assert 200 <= status < 300, (who, method, path, status, answer)
        return answer

    def page(self, browser: Any, who: str, path: str = "", **options: Any) -> Any:
        page = signed_in(browser, self.base, self.tokens[who], **options)
        if path:
            page.goto(f"{self.base}/transforms/{self.transform_id}{path}")
        return page


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """The demo transform with three labeling sets of five records, two labelers, a reviewer and the policy."""
    data = tmp_path_factory.mktemp("ui-workforce") / "data"
    with running_serve(data) as (base, admin):
        tokens = {"admin": admin}
        for name, role in (("ana", "labeler"), ("ben", "labeler"), ("rita", "reviewer")):
            status, created = call(base, admin, "POST", "/users", {"name": name, "role": role})
            assert status == 201, created
            tokens[name] = created["token"]["secret"]
        (transform,) = call(base, admin, "GET", "/transforms")[1]["transforms"]
        tid = transform["id"]
        status, run = call(base, admin, "POST", f"/transforms/{tid}/task-runs",
                           {"type": "LABELING_SET_GENERATION", "params": {"num_sets": 3, "set_size": 5}})
        assert status == 202, run
        deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
        while run["status"] not in ("SUCCEEDED", "FAILED", "STOPPED") and time.monotonic() < deadline:
            time.sleep(0.5)
            run = call(base, admin, "GET", f"/task-runs/{run['id']}")[1]
        assert run["status"] == "SUCCEEDED", run
        found = Team(base, tokens, tid, [])
        found.api("admin", "PATCH", "", {"labeling_policy": POLICY})
        found.set_ids = [s["set_id"] for s in found.api("admin", "GET", "/labeling-sets")["labeling_sets"]]
        yield found


def open_set(team: Team, browser: Any, who: str, set_id: str) -> Any:
    page = team.page(browser, who, f"/label?set={set_id}")
    page.wait_for_function(SET_SHOWN, arg=set_id)
    return page


def shown_keys(page: Any) -> list[str]:
    return page.locator("#records tbody tr").evaluate_all("trs => trs.map((tr) => tr.dataset.key)")


def test_a_blind_set_shows_the_labeler_nothing_of_the_model_and_the_admin_everything(team: Team,
                                                                                     browser: Any) -> None:
    views = [team.api("admin", "GET", f"/labeling-sets/{s}") for s in team.set_ids]
    # a set whose model groups reorder its rows, when there is one: the labeler must then see the set's order
    view = next((v for v in views if [k for g in v["suggested_groups"] for k in g] != v["record_keys"]), views[0])
    set_id = view["set_id"]

    admin = open_set(team, browser, "admin", set_id)
    assert admin.inner_text("#reason").startswith("Why this set:") and "probability" in admin.inner_text("#reason")
    assert shown_keys(admin) == [k for g in view["suggested_groups"] for k in g]
    assert "Labelers see this set blind" in admin.inner_text("#blind-note")
    assert admin.locator("#team-panel").is_visible()
    shot(admin, "40-blind-set-admin")
    admin.context.close()

    ana = open_set(team, browser, "ana", set_id)
    assert shown_keys(ana) == view["record_keys"]  # the set's order, not the model's groups
    assert ana.locator("#records tbody tr.suggested").count() == 0
    assert ana.inner_text("#reason") == "" and ana.inner_text("#blind-note").startswith("Shown blind")
    assert "probab" not in ana.inner_text("main").replace("probabilities", "")  # only the note names them
    assert ana.inner_text("#set-answers") == "answers 0 of 2 · not answered by you yet"
    assert ana.locator("#team-panel").is_hidden() and ana.locator("#gold-toggle").is_hidden()
    assert ana.locator(".label-bar a[href=team]").is_hidden()
    shot(ana, "41-blind-set-labeler")
    ana.context.close()


def test_a_labeler_takes_sets_from_the_queue_until_none_is_left(team: Team, browser: Any) -> None:
    first = team.api("ana", "GET", "/labeling-queue/next")["set_id"]
    page = team.page(browser, "ana", "/label")
    page.wait_for_function(SET_SHOWN, arg=first)  # several answers per set: the page opens from the queue
    page.keyboard.press("s")  # skipped: the next set of the list
    page.wait_for_function("(id) => /^Set [^:]+:/.test(document.getElementById('set-title').textContent) "
                           "&& !document.getElementById('set-title').textContent.startsWith(`Set ${id}:`)", arg=first)
    page.click("#next-for-me")  # the queue hands back the set that still needs ana's answer
    page.wait_for_function(SET_SHOWN, arg=first)
    handed: list[str] = []
    for round_no in range(len(team.set_ids) + 1):
        page.wait_for_function("() => document.getElementById('set-title').textContent.startsWith('Set ') "
                               "|| !document.getElementById('queue-empty').hidden")
        if page.locator("#queue-empty").is_visible():
            break
        set_id = page.inner_text("#set-title").split(":")[0].removeprefix("Set ")
        assert set_id not in handed, "the queue handed out a set twice"
        handed.append(set_id)
        assert page.inner_text("#set-answers").endswith("not answered by you yet")
        if round_no == 0:
            shot(page, "42-queue-labeler")
        page.keyboard.press("n")  # every record apart
        page.keyboard.press("Enter")  # saved; the queue hands out the next one
        page.wait_for_function("(id) => document.getElementById('notice').textContent === `Saved set ${id}.`",
                               arg=set_id)
    assert handed[0] == first and sorted(handed) == sorted(team.set_ids)
    assert page.inner_text("#queue-empty").startswith("Nothing left for you: no proposed set needs your answer")
    assert page.locator("#workspace").is_hidden()
    page.keyboard.press("N")  # the key asks again: still nothing
    page.wait_for_timeout(300)
    assert page.locator("#queue-empty").is_visible() and page.locator("#workspace").is_hidden()
    shot(page, "43-queue-none-left")
    page.context.close()

    for set_id in team.set_ids:  # the answers are ana's, from the UI
        last = team.api("admin", "GET", f"/labeling-sets/{set_id}/history")["events"][-1]
        assert (last["actor"], last["source"], last["action"]) == ("ana", "ui", "answer")
    done = open_set(team, browser, "ana", team.set_ids[0])
    assert done.inner_text("#set-answers") == "answers 1 of 2 · you answered"
    done.context.close()


def test_a_reviewer_decides_a_split_set_and_it_leaves_the_queue(team: Team, browser: Any) -> None:
    for set_id in team.set_ids:  # ben lumps every set: each pair splits between ana and ben
        keys = team.api("ben", "GET", f"/labeling-sets/{set_id}")["record_keys"]
        team.api("ben", "PUT", f"/labeling-sets/{set_id}", {"labels": [{"record_key": k, "label": "one"}
                                                                       for k in keys]})
    queued = [s["set_id"] for s in team.api("rita", "GET", "/review-queue")["sets"]]
    assert sorted(queued) == sorted(team.set_ids)

    page = team.page(browser, "rita", "/team")
    page.locator("#review-table a.set-link").first.wait_for()
    assert page.locator("#review-table tbody tr").evaluate_all("trs => trs.map((tr) => tr.dataset.set)") == queued
    target = queued[0]
    page.click(f'#review-table a.set-link[data-set="{target}"]')
    page.wait_for_url(f"**/label?set={target}")  # then wait on the new page, not the one left
    page.wait_for_function(SET_SHOWN, arg=target)
    panel = page.locator("#team-panel")
    assert panel.is_visible() and panel.get_attribute("data-review-state") == "needed"
    assert page.inner_text("#review-state").startswith("Review needed")
    assert page.locator("#answers-table thead th[data-labeler]").all_inner_texts() == ["ana", "ben"]
    keys = team.api("rita", "GET", f"/labeling-sets/{target}")["record_keys"]
    bens = page.locator('#answers-table td[data-labeler="ben"] .group')
    assert bens.all_inner_texts() == ["1"] * len(keys) and bens.first.get_attribute("title") == "label “one”"
    assert len(set(page.locator('#answers-table td[data-labeler="ana"] .group').all_inner_texts())) == len(keys)
    assert page.locator("#uncertain-pairs li[data-pair]").count() == len(keys) * (len(keys) - 1) // 2
    assert page.locator("#gold-toggle").is_hidden()  # admins only
    shot(page, "44-review-panel")

    for _ in keys:  # the reviewer's answer: every record in group 1 (the lumper was right here, say)
        page.keyboard.press("1")
    page.fill("#review-note", "one family")
    page.click("#decide-btn")
    page.wait_for_function("() => document.getElementById('notice').textContent.startsWith('Decided set')")
    assert panel.get_attribute("data-review-state") == "decided"
    decided = team.api("admin", "GET", f"/labeling-sets/{target}")
    assert decided["review_state"] == "decided" and {x["label"] for x in decided["labels"]} == {"1"}
    assert target not in [s["set_id"] for s in team.api("rita", "GET", "/review-queue")["sets"]]
    page.goto(f"{team.base}/transforms/{team.transform_id}/team")
    page.locator("#review-table tbody tr").first.wait_for()
    assert page.locator(f'#review-table tr[data-set="{target}"]').count() == 0
    assert page.locator("#review-table tbody tr[data-set]").count() == len(queued) - 1
    page.context.close()

    admin = open_set(team, browser, "admin", target)  # the admin makes the decided set gold
    switch = admin.locator("#gold-toggle")
    assert switch.is_visible() and not switch.is_checked()
    switch.check()
    admin.wait_for_function("() => document.getElementById('notice').textContent.includes('is gold')")
    assert team.api("admin", "GET", f"/labeling-sets/{target}")["gold"] is True
    admin.context.close()


def test_the_team_page_lists_labelers_and_the_audit_trail_with_a_csv(team: Team, browser: Any,
                                                                       tmp_path: Any) -> None:
    history = team.api("admin", "GET", "/label-history?limit=1000")
    stats = {s["labeler"]: s for s in team.api("admin", "GET", "/labelers")["labelers"]}
    page = team.page(browser, "admin", "/team", accept_downloads=True)
    page.locator("#history-table tbody tr[data-event]").first.wait_for()
    assert page.inner_text("#history-range") == f"events 1–{history['total']} of {history['total']}"
    rows = page.locator("#history-table tbody tr[data-event]")
    assert rows.evaluate_all("trs => trs.map((tr) => Number(tr.dataset.event))") == [e["id"]
                                                                                   for e in history["events"]]
    cells = rows.evaluate_all("trs => trs.map((tr) => [...tr.cells].map((td) => td.textContent))")
    assert ["ana", "ui", "answer"] in [c[1:4] for c in cells]
    review = next(c for c in cells if c[1:4] == ["rita", "ui", "review"])
    decided = next(e for e in history["events"] if e["action"] == "review")["after"]
    assert review[6] == "one family" and f"→ {len(decided)} records in 1 group" in review[5]
    assert any(c[1:4] == ["admin", "ui", "gold"] for c in cells)

    labelers = page.locator("#labelers-table tbody tr")
    assert labelers.evaluate_all("trs => trs.map((tr) => tr.dataset.labeler)") == sorted(stats)
    for name, s in stats.items():
        status = page.inner_text(f'#labelers-table tr[data-labeler="{name}"] td.flags')
        assert status == ("flagged: " + "; ".join(s["flags"]) if s["flagged"] else "ok")
    # the reviewer lumped the set that became gold: ana, who split it, is under the floor on gold
    assert stats["ana"]["gold_accuracy"] == 0.0 and stats["ana"]["flagged"], stats
    assert page.inner_text('#labelers-table tr[data-labeler="ana"] td.flags').startswith(
        "flagged: accuracy on gold sets 0.00 < floor 0.80")
    shot(page, "45-team-page")

    with page.expect_download() as download:
        page.click("#history-csv")
    saved = tmp_path / "history.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"label-history-{team.transform_id}.csv"
    with open(saved, newline="") as f:
        assert [int(r["id"]) for r in csv.DictReader(f)] == [e["id"] for e in history["events"]]
    page.context.close()

    ana = team.page(browser, "ana", "/team")
    ana.locator("#team-forbidden").wait_for()
    assert ana.inner_text("#team-forbidden").startswith("Only reviewers and admins")
    assert ana.locator("#team-content").is_hidden()
    ana.context.close()


def test_the_policy_form_names_a_bad_field_and_saves_nothing(team: Team, browser: Any) -> None:
    page = team.page(browser, "admin", "/edit")
    answers = page.locator("#p-answers_per_set")
    page.wait_for_function("() => document.getElementById('p-answers_per_set').value === '2'")
    assert page.locator("#p-blind").is_checked() and page.input_value("#p-consolidation") == "majority_vote"
    assert not page.locator("#p-weight_by_confidence").is_checked()
    assert [page.input_value("#p-review_band-low"), page.input_value("#p-review_band-high")] == ["0.2", "0.8"]
    assert page.input_value("#p-auto_label_target") == "" and page.input_value("#p-auto_label_mode") == "sets"
    page.select_option("#p-auto_label_mode", "complete")
    page.fill("#p-auto_label_target", "1.5")
    page.click("#transform-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('p-auto_label_target-error').textContent !== ''")
    assert "auto_label_target" in page.inner_text("#p-auto_label_target-error")
    page.fill("#p-auto_label_target", "")
    answers.fill("0")
    page.click("#transform-form button[type=submit]")
    error = page.locator("#p-answers_per_set-error")
    page.wait_for_function("() => document.getElementById('p-answers_per_set-error').textContent !== ''")
    assert "must be an integer from 1 to 9" in error.inner_text() and answers.get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "p-answers_per_set"
    shot(page, "46-policy-error")
    answers.fill("3")
    page.fill("#p-gold_share", "0.9")
    page.click("#transform-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('p-gold_share-error').textContent !== ''")
    assert error.inner_text() == "" and "from 0.0 to 0.5" in page.inner_text("#p-gold_share-error")
    assert team.api("admin", "GET", "")["labeling_policy"]["answers_per_set"] == 2  # nothing saved
    page.fill("#p-gold_share", "0.1")
    page.uncheck("#p-blind")
    page.check("#p-weight_by_confidence")
    page.click("#transform-form button[type=submit]")
    page.wait_for_url(f"{team.base}/transforms/{team.transform_id}/runs")
    saved = team.api("admin", "GET", "")["labeling_policy"]
    assert (saved["answers_per_set"], saved["gold_share"], saved["blind"]) == (3, 0.1, False)
    assert saved["weight_by_confidence"] is True
    assert saved["auto_label_mode"] == "complete" and saved["auto_label_target"] is None  # empty: off
    assert saved["min_pairs_to_flag"] == 5  # a field the form does not show keeps its value
    assert page.locator("#to-team").is_visible()
    page.goto(f"{team.base}/users")  # the admin can make reviewers
    page.locator('#users-table tr[data-user="rita"]').wait_for()
    assert page.inner_text('#users-table tr[data-user="rita"] td:nth-child(2)') == "reviewer"
    assert "reviewer" in page.locator("#u-role option").all_inner_texts()
    page.context.close()


def test_the_audit_trail_opens_on_its_latest_page_and_pages_with_the_keyboard(team: Team, browser: Any) -> None:
    set_id = team.set_ids[-1]
    keys = team.api("admin", "GET", f"/labeling-sets/{set_id}")["record_keys"]
    for n in range(60):  # the admin changes an answer over and over: each change is one more event
        team.api("admin", "PUT", f"/labeling-sets/{set_id}", {"labels": [
            {"record_key": k, "label": "a" if n % 2 or i < 2 else "b"} for i, k in enumerate(keys)]})
    total = team.api("admin", "GET", "/label-history?limit=1")["total"]
    assert total > 100
    page = team.page(browser, "admin", "/team")
    page.locator("#history-table tbody tr[data-event]").first.wait_for()
    latest = (total - 1) // 50 * 50
    assert page.inner_text("#history-range") == f"events {latest + 1}–{total} of {total}"
    assert page.locator("#history-next").is_disabled() and page.locator("#history-last").is_disabled()
    tab_to(page, "#history-prev")
    page.keyboard.press("Enter")
    page.wait_for_function("(r) => document.getElementById('history-range').textContent === r",
                           arg=f"events {latest - 49}–{latest} of {total}")
    tab_to(page, "#history-first", "Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('history-range').textContent.startsWith('events 1–50 ')")
    first_ids = page.locator("#history-table tbody tr[data-event]").evaluate_all(
        "trs => trs.map((tr) => Number(tr.dataset.event))")
    assert first_ids == [e["id"] for e in team.api("admin", "GET", "/label-history?limit=50")["events"]]
    tab_to(page, "#history-csv")  # the download is reachable too
    page.context.close()
