"""A labeling team through the REST API of a real ``matcher serve`` (its worker generates the sets): an admin sets
a policy (3 answers per set, blind, gold sets mixed in), three labelers take sets from their queues, one of them
answering wrongly; answers are kept per labeler, consolidated into the sets' labels, the doubtful sets go to a
reviewer whose decision stands, the wrong labeler is flagged on gold, and every change is in the audit trail."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from serve_support import running_serve
from test_serve import ROOT

TRUTH = pd.read_csv(ROOT / "examples" / "people" / "truth.csv", dtype=str).set_index("id")["entity_id"]
LABELERS = ("ana", "ben", "cy")  # cy answers wrongly: every record of a set in one group
RUN_TIMEOUT = 300


def call(base: str, token: str, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            kind = response.headers.get_content_type()
            return response.status, json.loads(raw) if kind.endswith("json") else raw.decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@dataclass
class Team:
    base: str
    admin: str
    transform_id: str
    tokens: dict[str, str]
    set_ids: list[str]

    def call(self, who: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        token = self.admin if who == "admin" else self.tokens[who]
        status, answer = call(self.base, token, method, f"/transforms/{self.transform_id}{path}", body, **kwargs)
        assert 200 <= status < 300, (who, method, path, status, answer)
        return answer

    def status_of(self, who: str, method: str, path: str, body: Any = None) -> int:
        token = self.admin if who == "admin" else self.tokens[who]
        return call(self.base, token, method, f"/transforms/{self.transform_id}{path}", body)[0]


def truthful(keys: list[str]) -> list[dict[str, str]]:
    return [{"record_key": k, "label": TRUTH[k]} for k in keys]


def lumped(keys: list[str]) -> list[dict[str, str]]:
    return [{"record_key": k, "label": "all-one"} for k in keys]


def answer_queue(team: Team, who: str) -> list[str]:
    """The labeler answers every set the queue hands out; returns them in order."""
    handed: list[str] = []
    while (found := team.call(who, "GET", "/labeling-queue/next"))["set_id"] is not None:
        set_id = found["set_id"]
        assert set_id not in handed, "the queue handed out a set twice"
        handed.append(set_id)
        view = team.call(who, "GET", f"/labeling-sets/{set_id}")
        assert view["reason"] == {} and view["suggested_groups"] is None  # blind: nothing of the model
        assert view["gold"] is None and view["answers"] is None  # nor gold marks nor the others' answers
        assert view["labels"] == []  # not the set's labels: this labeler has not answered yet
        labels = lumped(view["record_keys"]) if who == "cy" else truthful(view["record_keys"])
        saved = team.call(who, "PUT", f"/labeling-sets/{set_id}", {"labels": labels})
        assert {(x["record_key"], x["label"]) for x in saved["labels"]} == {(x["record_key"], x["label"])
                                                                            for x in labels}
    assert found["message"]
    return handed


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    data = tmp_path_factory.mktemp("workforce") / "data"
    with running_serve(data) as (base, admin):
        _, listed = call(base, admin, "GET", "/transforms")
        transform_id = listed["transforms"][0]["id"]
        tokens = {}
        for name, role in [*((n, "labeler") for n in LABELERS), ("rita", "reviewer")]:
            status, created = call(base, admin, "POST", "/users", {"name": name, "role": role})
            assert status == 201, created
            tokens[name] = created["token"]["secret"]
        status, run = call(base, admin, "POST", f"/transforms/{transform_id}/task-runs",
                           {"type": "LABELING_SET_GENERATION", "params": {"num_sets": 5, "set_size": 6}})
        assert status == 202, run
        deadline = time.monotonic() + RUN_TIMEOUT
        while run["status"] not in ("SUCCEEDED", "FAILED", "STOPPED") and time.monotonic() < deadline:
            time.sleep(1)
            run = call(base, admin, "GET", f"/task-runs/{run['id']}")[1]
        assert run["status"] == "SUCCEEDED", run
        _, sets = call(base, admin, "GET", f"/transforms/{transform_id}/labeling-sets")
        yield Team(base, admin, transform_id, tokens, [s["set_id"] for s in sets["labeling_sets"]])


def test_a_team_labels_with_three_answers_per_set_a_gold_set_and_a_reviewer(team: Team) -> None:
    assert len(team.set_ids) == 5
    keys_of = {s: team.call("admin", "GET", f"/labeling-sets/{s}")["record_keys"] for s in team.set_ids}
    gold_set = max(team.set_ids, key=lambda s: len(set(TRUTH[keys_of[s]])))  # lumping it is wrong on many pairs
    assert len(set(TRUTH[keys_of[gold_set]])) >= 3
    others = [s for s in team.set_ids if s != gold_set]
    # the admin decides the first set (from truth) and makes it gold, then sets the policy
    gold_view = team.call("admin", "GET", f"/labeling-sets/{gold_set}")
    team.call("admin", "PUT", f"/labeling-sets/{gold_set}/review", {"labels": truthful(gold_view["record_keys"])})
    assert team.call("admin", "PUT", f"/labeling-sets/{gold_set}/gold", {"gold": True})["gold"] is True
    policy = {"answers_per_set": 3, "blind": True, "gold_share": 0.25, "consolidation": "majority_vote",
              "min_pairs_to_flag": 5}
    patched = team.call("admin", "PATCH", "", {"labeling_policy": policy})
    assert patched["labeling_policy"]["answers_per_set"] == 3 and patched["labeling_policy"]["blind"] is True
    assert team.status_of("ana", "PATCH", "", {"labeling_policy": None}) == 403

    handed = {who: answer_queue(team, who) for who in LABELERS}
    for who, sets in handed.items():
        assert sets[0] == gold_set, f"{who}: the gold set is mixed in (first, at a 0.25 share)"
        assert sorted(sets) == sorted(team.set_ids), f"{who} answered every set once"

    # the admin sees every answer, kept per labeler; the sets are decided by the majority (ana and ben: truth)
    for set_id in others:
        view = team.call("admin", "GET", f"/labeling-sets/{set_id}")
        assert sorted(a["labeler"] for a in view["answers"]) == sorted(LABELERS) and view["answer_count"] == 3
        decided = {x["record_key"]: x["label"] for x in view["labels"]}
        assert set(decided) == set(view["record_keys"])
        for a in view["record_keys"]:
            for b in view["record_keys"]:
                assert (decided[a] == decided[b]) == (TRUTH[a] == TRUTH[b])
    gold_after = team.call("admin", "GET", f"/labeling-sets/{gold_set}")
    assert {x["record_key"]: x["label"] for x in gold_after["labels"]} == {k: TRUTH[k] for k in
                                                                          gold_view["record_keys"]}

    # cy's lumping splits every set holding two entities: those go to review; labelers may not see the queue
    assert team.status_of("ana", "GET", "/review-queue") == 403
    queue = team.call("rita", "GET", "/review-queue")["sets"]
    doubtful = [s for s in others if len(set(TRUTH[team.call("admin", "GET", f"/labeling-sets/{s}")["record_keys"]]))
                > 1]
    assert sorted(s["set_id"] for s in queue) == sorted(doubtful) and doubtful
    target = queue[0]["set_id"]
    keys = team.call("rita", "GET", f"/labeling-sets/{target}")["record_keys"]
    assert team.status_of("ana", "PUT", f"/labeling-sets/{target}/review", {"labels": lumped(keys)}) == 403
    decided = team.call("rita", "PUT", f"/labeling-sets/{target}/review",
                        {"labels": lumped(keys), "note": "one family"})
    assert decided["review_state"] == "decided" and {x["label"] for x in decided["labels"]} == {"all-one"}
    assert target not in [s["set_id"] for s in team.call("rita", "GET", "/review-queue")["sets"]]

    # a late answer does not undo the reviewer's decision
    team.call("admin", "PUT", f"/labeling-sets/{target}", {"labels": truthful(keys)})
    assert {x["label"] for x in team.call("admin", "GET", f"/labeling-sets/{target}")["labels"]} == {"all-one"}

    stats = {s["labeler"]: s for s in team.call("rita", "GET", "/labelers")["labelers"]}
    assert stats["ana"]["gold_accuracy"] == 1.0 and not stats["ana"]["flagged"]
    assert stats["cy"]["gold_accuracy"] < 0.8 and stats["cy"]["flagged"]
    assert stats["cy"]["estimated_accuracy"] < stats["ben"]["estimated_accuracy"]
    assert team.status_of("cy", "GET", "/labelers") == 403


def test_the_audit_trail_keeps_every_change_and_exports_as_csv(team: Team) -> None:
    history = team.call("rita", "GET", "/label-history?limit=1000")
    events = history["events"]
    assert history["total"] == len(events) > 0
    answers = [e for e in events if e["action"] == "answer"]
    assert {e["actor"] for e in answers} >= set(LABELERS) and {e["source"] for e in answers} == {"api"}
    assert [e["action"] for e in events[:2]] == ["review", "gold"] and events[1]["actor"] == "admin"
    assert any(e["action"] == "decide" and e["actor"] == "machine" and e["source"] == "consolidation"
               for e in events)
    review = next(e for e in events if e["action"] == "review" and e["actor"] == "rita")
    assert review["note"] == "one family" and set(review["after"].values()) == {"all-one"} and review["before"]
    one_set = team.call("admin", "GET", f"/labeling-sets/{review['labeling_set_id']}/history")["events"]
    assert review["id"] in [e["id"] for e in one_set] and {e["labeling_set_id"] for e in one_set} == {
        review["labeling_set_id"]}
    assert team.status_of("ana", "GET", "/label-history") == 403
    exported = team.call("admin", "GET", "/label-history?format=csv")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == history["total"] and [r["id"] for r in rows] == [str(e["id"]) for e in events]


def test_the_web_ui_is_the_audit_source_and_bad_policies_name_their_field(team: Team) -> None:
    set_id = next(s for s in team.set_ids if not team.call("admin", "GET", f"/labeling-sets/{s}")["gold"])
    keys = team.call("admin", "GET", f"/labeling-sets/{set_id}")["record_keys"]
    team.call("rita", "PUT", f"/labeling-sets/{set_id}", {"labels": truthful(keys)},
              headers={"X-Matcher-Client": "web-ui"})
    last = team.call("admin", "GET", f"/labeling-sets/{set_id}/history")["events"][-1]
    assert (last["actor"], last["source"], last["action"]) == ("rita", "ui", "answer")
    for policy, field in [({"answers_per_set": 0}, "labeling_policy.answers_per_set"),
                          ({"gold_share": 0.9}, "labeling_policy.gold_share"),
                          ({"review_band": [0.9, 0.1]}, "labeling_policy.review_band"),
                          ({"colour": "red"}, "labeling_policy.colour")]:
        status, problem = call(team.base, team.admin, "PATCH", f"/transforms/{team.transform_id}",
                               {"labeling_policy": policy})
        assert status == 422 and problem["field"] == field, problem


def test_a_reviewer_is_a_role_admins_create(team: Team) -> None:
    status, problem = call(team.base, team.tokens["rita"], "POST", "/users", {"name": "x", "role": "labeler"})
    assert status == 403
    _, me = call(team.base, team.tokens["rita"], "GET", "/me")
    assert me["role"] == "reviewer"
