"""Automated labeling that completes the humans' answers (labeling policy ``auto_label_mode`` "complete") in the web
UI, against a real ``matcher serve`` (with its worker) in headless Chromium: a labeler sees only the records the
machine is unsure of, told how many more the machine labels; answering them with group keys and Enter decides the
set; the admin then sees the whole set with the machine's rows marked "machine", and a row the admin relabels loses
its mark.

The transform is the kin fixture (relatives: sure groups beside unsure pairs) after three rounds labeled from its
truth through the API, so that the fourth generation has sets to complete (as tests/test_auto_completion_service.py,
which checks the service's side in depth)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import FIXTURES
from serve_support import running_serve
from test_admin_served import upload, wait_for
from test_api_workforce import call
from test_ui_browser import shot
from test_ui_roles_keyboard import signed_in

SET_SHOWN = "(id) => (document.getElementById('set-title')?.textContent || '').startsWith(`Set ${id}:`)"
GROUP_KEYS = list("123456789abcdefghilmopqrtvwxyz")


@dataclass
class Completed:
    base: str
    tokens: dict[str, str]  # admin and ana (a labeler)
    transform_id: str
    set_id: str  # a set the machine completes
    human: list[str]  # its records shown to humans
    machine: int  # its records the machine labels
    truth: dict[str, str]

    def api(self, who: str, method: str, path: str, body: Any = None) -> Any:
        status, answer = call(self.base, self.tokens[who], method, f"/transforms/{self.transform_id}{path}", body)
        assert 200 <= status < 300, (who, method, path, status, answer)
        return answer


@pytest.fixture(scope="module")
def completed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Completed]:
    with open(FIXTURES / "kin" / "truth.csv", newline="") as f:
        truth = {row["id"]: row["entity_id"] for row in csv.DictReader(f)}
    data = tmp_path_factory.mktemp("ui-complete") / "data"
    with running_serve(data) as (base, admin):
        status, ana = call(base, admin, "POST", "/users", {"name": "ana", "role": "labeler"})
        assert status == 201, ana
        dataset = upload(base, admin, (FIXTURES / "kin" / "records.csv").read_bytes(), "kin.csv")
        status, transform = call(base, admin, "POST", "/transforms",
                                 {"name": "kin", "dataset_id": dataset["id"], "primary_key": "id"})
        assert status == 201, transform
        found = Completed(base, {"admin": admin, "ana": ana["token"]["secret"]}, transform["id"], "", [], 0, truth)

        def generate(seed: int) -> str:
            run = found.api("admin", "POST", "/task-runs", {
                "type": "LABELING_SET_GENERATION", "params": {"num_sets": 10, "set_size": 10, "seed": seed}})
            assert wait_for(base, admin, run["id"])["status"] == "SUCCEEDED"
            return str(run["id"])

        for seed in range(3):  # three rounds answered from the truth: the model becomes sure of some records
            generate(seed)
            for summary in found.api("admin", "GET", "/labeling-sets")["labeling_sets"]:
                if summary["labeled"] == 0:
                    keys = found.api("admin", "GET", f"/labeling-sets/{summary['set_id']}")["record_keys"]
                    found.api("admin", "PUT", f"/labeling-sets/{summary['set_id']}",
                              {"labels": [{"record_key": k, "label": truth[k]} for k in keys]})
        found.api("admin", "PATCH", "", {"labeling_policy": {"auto_label_target": 0.9, "auto_label_mode": "complete",
                                                             "auto_label_check_share": 0}})
        run_id = generate(3)
        status, summary = call(base, admin, "GET", f"/task-runs/{run_id}/output?file=auto_labeling")
        assert status == 200 and summary["mode"] == "complete", summary
        assert summary["completed_by_machine"], summary  # kin after 3 rounds: sets with sure groups
        found.set_id = summary["completed_by_machine"][0]
        view = found.api("ana", "GET", f"/labeling-sets/{found.set_id}")
        found.human, found.machine = view["record_keys"], view["machine_records"]
        yield found


def open_set(found: Completed, browser: Any, who: str) -> Any:
    page = signed_in(browser, found.base, found.tokens[who])
    page.goto(f"{found.base}/transforms/{found.transform_id}/label?set={found.set_id}")
    page.wait_for_function(SET_SHOWN, arg=found.set_id)
    return page


def shown_keys(page: Any) -> list[str]:
    return page.locator("#records tbody tr").evaluate_all("trs => trs.map((tr) => tr.dataset.key)")


def test_a_labeler_answers_only_the_unsure_records_and_the_admin_sees_the_machines(completed: Completed,
                                                                                   browser: Any) -> None:
    assert 0 < len(completed.human) < 10 and completed.machine == 10 - len(completed.human)

    ana = open_set(completed, browser, "ana")
    shown = shown_keys(ana)
    assert sorted(shown) == sorted(completed.human)  # the machine's records are not the labeler's to see
    note = ana.inner_text("#machine-note")
    assert note.startswith(f"The model is sure of {completed.machine} more record") and "only the others" in note
    assert ana.inner_text("#set-title").startswith(f"Set {completed.set_id}: {len(completed.human)} records")
    keys_of: dict[str, str] = {}
    for key in shown:  # one group key per true entity, in the order shown; each key moves the focus on
        ana.keyboard.press(keys_of.setdefault(completed.truth[key], GROUP_KEYS[len(keys_of)]))
    shot(ana, "45-complete-mode-labeler")
    ana.keyboard.press("Enter")
    ana.wait_for_function(f"() => !(document.getElementById('set-title')?.textContent || '')"
                          f".startsWith('Set {completed.set_id}:')")
    ana.context.close()

    decided = completed.api("admin", "GET", f"/labeling-sets/{completed.set_id}")
    by = {label["record_key"]: label["labeled_by"] for label in decided["labels"]}
    assert len(by) == 10 and sum(v == "machine" for v in by.values()) == completed.machine
    assert {k for k, v in by.items() if v != "machine"} == set(completed.human)

    admin = open_set(completed, browser, "admin")
    assert sorted(shown_keys(admin)) == sorted(by)  # the whole set
    marked = admin.locator("#records tbody tr.by-machine").evaluate_all("trs => trs.map((tr) => tr.dataset.key)")
    assert sorted(marked) == sorted(k for k, v in by.items() if v == "machine")
    assert admin.locator("#records tbody tr.by-machine .machine-mark").count() == completed.machine
    assert "rows marked “machine”" in admin.inner_text("#machine-note")
    shot(admin, "46-complete-mode-admin")
    first_machine = marked[0]
    at = shown_keys(admin).index(first_machine)
    for _ in range(at):
        admin.keyboard.press("j")
    admin.keyboard.press("z")  # the admin relabels a machine row: it is no longer the machine's label
    relabeled = admin.locator(f'#records tbody tr[data-key="{first_machine}"]')
    assert relabeled.locator(".group").inner_text() == "z" and "by-machine" not in relabeled.get_attribute("class")
    assert admin.locator("#records tbody tr.by-machine").count() == completed.machine - 1
    admin.context.close()
