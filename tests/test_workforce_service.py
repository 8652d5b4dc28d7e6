"""The labeling workforce's rules, through the API on SQLite (runs executed in-process): one answer per set by
default, answers never overwriting another labeler's, Dawid-Skene once the answers allow it, gold sets frozen,
the audit trail of the UI, the CSV import and erasure (tests/test_api_workforce.py does the team end to end)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import Api, add_labeling_set, is_problem, labels_csv, people_frame, sqlite_api

from services import engine, users
from storage.artifacts import ArtifactStore

KEYS = people_frame()["id"].tolist()


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def token(api: Api, name: str, role: str = "labeler") -> str:
    return users.create_user(api.db, name, role)[1]


def put(api: Api, tid: str, set_id: str, labels: dict[str, str], who: str | None = None) -> Any:
    body = {"labels": [{"record_key": k, "label": v} for k, v in labels.items()]}
    response = api.call("PUT", f"/transforms/{tid}/labeling-sets/{set_id}", who, json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def decided(api: Api, tid: str, set_id: str) -> dict[str, str]:
    view = api.call("GET", f"/transforms/{tid}/labeling-sets/{set_id}").get_json()
    return {x["record_key"]: x["label"] for x in view["labels"]}


def events(api: Api, tid: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/transforms/{tid}/label-history?limit=1000").get_json()["events"]


def test_one_answer_per_set_keeps_the_latest_save_and_records_both(api: Api) -> None:
    tid = api.transform()["id"]
    add_labeling_set(api.db, tid, "s1", KEYS[:3])
    bo = token(api, "bo")
    put(api, tid, "s1", {KEYS[0]: "A", KEYS[1]: "A", KEYS[2]: "B"}, api.labeler)
    put(api, tid, "s1", {KEYS[0]: "A", KEYS[1]: "B", KEYS[2]: "B"}, bo)
    assert decided(api, tid, "s1") == {KEYS[0]: "A", KEYS[1]: "B", KEYS[2]: "B"}
    history = events(api, tid)
    assert [(e["actor"], e["action"]) for e in history] == [("lena", "label"), ("bo", "label")]
    assert history[1]["before"] == {KEYS[0]: "A", KEYS[1]: "A", KEYS[2]: "B"}  # nothing silently replaced
    view = api.call("GET", f"/transforms/{tid}/labeling-sets/s1").get_json()
    assert sorted(a["labeler"] for a in view["answers"]) == ["bo", "lena"]  # both answers kept
    put(api, tid, "s1", {KEYS[0]: "A", KEYS[1]: "B", KEYS[2]: "B"}, bo)
    assert len(events(api, tid)) == 2  # a save that changes nothing is no event


def test_several_answers_stay_apart_until_the_set_is_complete(api: Api) -> None:
    tid = api.transform(labeling_policy={"answers_per_set": 2})["id"]
    add_labeling_set(api.db, tid, "s1", KEYS[:2])
    bo = token(api, "bo")
    mine = put(api, tid, "s1", {KEYS[0]: "A", KEYS[1]: "A"}, api.labeler)
    assert mine["answer_count"] == 1 and mine["answered_by_me"] and mine["answers"] is None
    assert decided(api, tid, "s1") == {}  # one answer of two: not decided, not trained on
    theirs = put(api, tid, "s1", {KEYS[0]: "x"}, bo)  # bo labels one record only
    assert theirs["labels"] == [{"record_key": KEYS[0], "label": "x", "labeled_by": "bo",
                                 "labeled_at": theirs["labels"][0]["labeled_at"]}]  # bo sees bo's answer only
    assert decided(api, tid, "s1") == {KEYS[0]: KEYS[0], KEYS[1]: KEYS[0]}  # lena's pair decides
    lena_view = api.call("GET", f"/transforms/{tid}/labeling-sets/s1", api.labeler).get_json()
    assert {x["label"] for x in lena_view["labels"]} == {"A"}  # lena still sees her own answer


def test_dawid_skene_decides_once_labelers_have_enough_shared_answers(api: Api) -> None:
    """Three labelers on 8 sets of 5 records (10 pairs a set): 'noisy' lumps every set; Dawid-Skene learns it is
    wrong on non-matches and the careful two decide."""
    tid = api.transform(rows=30, labeling_policy={"answers_per_set": 3})["id"]
    people = people_frame()
    who = {"ana": token(api, "ana"), "ben": token(api, "ben"), "noisy": token(api, "noisy")}
    for n in range(6):
        keys = KEYS[5 * n:5 * n + 5]
        add_labeling_set(api.db, tid, f"s{n}", keys)
        right = {k: (k if i % 2 else KEYS[5 * n]) for i, k in enumerate(keys)}  # some groups, some singles
        put(api, tid, f"s{n}", right, who["ana"])
        put(api, tid, f"s{n}", right, who["ben"])
        put(api, tid, f"s{n}", {k: "same" for k in keys}, who["noisy"])
    assert len(people) == 30
    view = api.call("GET", f"/transforms/{tid}/labeling-sets/s5").get_json()
    assert view["consolidation"]["method"] == "dawid_skene", view["consolidation"]
    keys = KEYS[25:30]
    labels = decided(api, tid, "s5")
    assert (labels[keys[0]] == labels[keys[2]]) and (labels[keys[0]] != labels[keys[1]])
    stats = {s["labeler"]: s for s in api.call("GET", f"/transforms/{tid}/labelers").get_json()["labelers"]}
    assert stats["noisy"]["estimated_accuracy"] < 0.8 < stats["ana"]["estimated_accuracy"]
    assert stats["noisy"]["flagged"] and not stats["ana"]["flagged"]


def test_gold_sets_are_frozen_answer_keys(api: Api) -> None:
    tid = api.transform()["id"]
    add_labeling_set(api.db, tid, "g", KEYS[:3])
    is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/g/gold", json={"gold": True}), 422, "gold")
    put(api, tid, "g", {KEYS[0]: "A", KEYS[1]: "A", KEYS[2]: "B"})
    assert api.call("PUT", f"/transforms/{tid}/labeling-sets/g/gold", api.labeler,
                    json={"gold": True}).status_code == 403
    assert api.call("PUT", f"/transforms/{tid}/labeling-sets/g/gold", json={"gold": True}).get_json()["gold"]
    answer = put(api, tid, "g", {KEYS[0]: "A", KEYS[1]: "B", KEYS[2]: "B"}, api.labeler)
    assert answer["gold"] is None and {x["label"] for x in answer["labels"]} == {"A", "B"}
    assert decided(api, tid, "g") == {KEYS[0]: "A", KEYS[1]: "A", KEYS[2]: "B"}  # the answer key stands
    is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/g/review",
                        json={"labels": [{"record_key": KEYS[0], "label": "Z"}]}), 409)
    stats = {s["labeler"]: s for s in api.call("GET", f"/transforms/{tid}/labelers").get_json()["labelers"]}
    assert (stats["lena"]["gold_pairs"], stats["lena"]["gold_accuracy"]) == (3, pytest.approx(1 / 3, abs=1e-4))
    assert stats["alice"]["gold_accuracy"] == 1.0  # the admin's own answer, which became the key
    listed = api.call("GET", f"/transforms/{tid}/labeling-sets", api.labeler).get_json()["labeling_sets"]
    assert listed[0]["gold"] is None and listed[0]["labeled"] == 3  # her own answer's count, nothing of gold


def test_the_csv_import_and_erasure_are_in_the_history(api: Api) -> None:
    tid = api.transform()["id"]
    response = api.call("POST", f"/transforms/{tid}/labels", data={
        "file": (io.BytesIO(labels_csv([("=f1", "A", KEYS[0]), ("=f1", "A", KEYS[1]), ("=f1", "=cmd", KEYS[2])])),
                 "labels.csv")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["id"]
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run_id) == "SUCCEEDED"
    (imported,) = events(api, tid)
    assert (imported["actor"], imported["source"], imported["action"]) == ("alice", "csv_import", "import")
    assert imported["after"] == {KEYS[0]: "A", KEYS[1]: "A", KEYS[2]: "=cmd"} and imported["note"] == "labels.csv"
    exported = api.call("GET", f"/transforms/{tid}/label-history?format=csv").get_data(as_text=True)
    assert exported.startswith("id,at,labeling_set_id,actor") and ",'=f1," in exported  # safe to open in Excel
    assert ",=" not in exported and "Z," in exported  # no cell starts a formula; times in UTC
    erased = api.call("DELETE", f"/transforms/{tid}/records", json={"keys": [KEYS[2]]})
    assert erased.status_code == 200, erased.get_json()
    imported, erase = events(api, tid)
    assert imported["after"] == {KEYS[0]: "A", KEYS[1]: "A"}  # the erased key left the history
    assert (erase["actor"], erase["source"], erase["action"], erase["labeling_set_id"]) == (
        "machine", "erasure", "erase", "=f1")
    assert KEYS[2] not in api.call("GET", f"/transforms/{tid}/label-history?format=csv").get_data(as_text=True)


def test_history_and_labelers_are_for_reviewers_and_admins(api: Api) -> None:
    tid = api.transform()["id"]
    rita = token(api, "rita", "reviewer")
    for path in ("/label-history", "/labelers", "/review-queue"):
        assert api.call("GET", f"/transforms/{tid}{path}", api.labeler).status_code == 403
        assert api.call("GET", f"/transforms/{tid}{path}", rita).status_code == 200
    assert api.call("PATCH", f"/transforms/{tid}", rita, json={"name": "x"}).status_code == 403
    is_problem(api.call("GET", f"/transforms/{tid}/label-history?limit=0"), 422, "limit")


def test_a_gold_file_imported_by_an_admin_makes_gold_sets(api: Api) -> None:
    tid = api.transform()["id"]
    response = api.call("POST", f"/transforms/{tid}/labels", data={
        "file": (io.BytesIO(labels_csv([("g1", "A", KEYS[0]), ("g1", "A", KEYS[1]), ("g1", "B", KEYS[2])])),
                 "gold.csv"), "gold": "true"}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), response.get_json()["id"]) == "SUCCEEDED"
    assert api.call("GET", f"/transforms/{tid}/labeling-sets/g1").get_json()["gold"] is True
    put(api, tid, "g1", {KEYS[0]: "x", KEYS[1]: "x", KEYS[2]: "x"}, api.labeler)  # lumps: 1 of 3 pairs right
    stats = {s["labeler"]: s for s in api.call("GET", f"/transforms/{tid}/labelers").get_json()["labelers"]}
    assert stats["lena"]["gold_pairs"] == 3 and stats["lena"]["gold_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert [e["action"] for e in events(api, tid)] == ["import", "gold", "answer"]
    assert api.call("POST", f"/transforms/{tid}/labels", api.labeler, data={
        "file": (io.BytesIO(labels_csv([("g2", "A", KEYS[0])])), "gold.csv"), "gold": "true"},
        content_type="multipart/form-data").status_code == 403


def test_a_generation_lets_the_machine_label_the_sets_it_is_sure_of(api: Api) -> None:
    """Three rounds of sets labeled from truth, then a generation under a 0.9 target: the sets the model is
    sure of get machine labels (in the history, out of the queue), a share goes to humans, and the evaluation
    measures the machine against them."""
    from conftest import FIXTURES

    truth = pd.read_csv(FIXTURES / "people" / "truth.csv", dtype=str).set_index("id").iloc[:, 0]
    art = ArtifactStore(api.config.data_dir)
    tid = api.transform(rows=600)["id"]

    def generate(seed: int) -> dict[str, Any]:
        run = api.call("POST", f"/transforms/{tid}/task-runs", json={
            "type": "LABELING_SET_GENERATION", "params": {"num_sets": 10, "set_size": 10, "seed": seed}}).get_json()
        assert engine.execute(api.db, art, run["id"]) == "SUCCEEDED"
        return run

    def label_open_sets() -> None:
        for summary in api.call("GET", f"/transforms/{tid}/labeling-sets").get_json()["labeling_sets"]:
            if summary["labeled"] == 0:
                keys = api.call("GET", f"/transforms/{tid}/labeling-sets/{summary['set_id']}").get_json()[
                    "record_keys"]
                put(api, tid, summary["set_id"], {k: truth[k] for k in keys})

    for seed in range(3):
        generate(seed)
        label_open_sets()
    policy = {"auto_label_target": 0.9, "auto_label_check_share": 0.3}
    assert api.call("PATCH", f"/transforms/{tid}", json={"labeling_policy": policy}).status_code == 200
    run = generate(3)
    got = api.call("GET", f"/task-runs/{run['id']}/output?file=auto_labeling")
    assert got.status_code == 200, got.get_data(as_text=True)
    summary = json.loads(got.get_data())
    machine, checked = summary["machine_labeled"], summary["checked_by_humans"]
    assert machine and checked, summary  # the people fixture's model is sure of some sets after 3 rounds
    assert summary["expected_accuracy"] >= 0.9
    assert all(len(decided(api, tid, s)) >= 2 for s in machine) and not any(decided(api, tid, s) for s in checked)
    history = [e for e in events(api, tid) if e["action"] == "auto_label"]
    assert sorted(e["labeling_set_id"] for e in history) == sorted(machine)
    assert {(e["actor"], e["source"]) for e in history} == {("machine", "machine")}
    handed = api.call("GET", f"/transforms/{tid}/labeling-queue/next", api.labeler).get_json()["set_id"]
    assert handed is not None and handed not in machine
    pairs = right = 0
    for set_id in machine:
        labels = decided(api, tid, set_id)
        for a in labels:
            for b in labels:
                if a < b:
                    pairs += 1
                    right += (labels[a] == labels[b]) == (truth[a] == truth[b])
    assert right / pairs >= 0.9, (right, pairs)
    label_open_sets()
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EVALUATION"}).get_json()
    assert engine.execute(api.db, art, run["id"]) == "SUCCEEDED"
    report = api.call("GET", f"/transforms/{tid}").get_json()["evaluation_metrics"]["auto_labeling"]
    assert report["target"] == 0.9 and report["checked_and_answered"] == len(checked)
    assert report["machine_labeled_sets"] == len(machine) and report["achieved_accuracy"] >= 0.9


def test_records_waiting_for_more_answers_are_not_proposed_again(api: Api) -> None:
    tid = api.transform(rows=600, labeling_policy={"answers_per_set": 3})["id"]
    art = ArtifactStore(api.config.data_dir)

    def generate(seed: int) -> list[str]:
        run = api.call("POST", f"/transforms/{tid}/task-runs", json={
            "type": "LABELING_SET_GENERATION", "params": {"num_sets": 5, "set_size": 8, "seed": seed}}).get_json()
        assert engine.execute(api.db, art, run["id"]) == "SUCCEEDED"
        return [s["set_id"] for s in api.call("GET", f"/transforms/{tid}/labeling-sets").get_json()["labeling_sets"]]

    first = generate(0)
    answered: set[str] = set()
    for set_id in first:
        keys = api.call("GET", f"/transforms/{tid}/labeling-sets/{set_id}").get_json()["record_keys"]
        put(api, tid, set_id, {k: "same" for k in keys}, api.labeler)  # one answer of three: nothing decided
        answered |= set(keys)
    assert api.call("GET", f"/transforms/{tid}").get_json()["label_count"] == 0
    fresh = set(generate(0)) - set(first)  # the same seed: without the exclusion, the same five sets again
    assert len(fresh) == 5
    for set_id in fresh:
        keys = api.call("GET", f"/transforms/{tid}/labeling-sets/{set_id}").get_json()["record_keys"]
        assert not answered & set(keys), "a record still waiting for answers was proposed again"


def test_the_queue_reserves_a_handed_out_set_until_it_is_answered(api: Api) -> None:
    tid = api.transform()["id"]
    for n in range(2):
        add_labeling_set(api.db, tid, f"s{n}", KEYS[3 * n:3 * n + 3])
    ben = token(api, "ben")

    def next_for(who: str) -> Any:
        return api.call("GET", f"/transforms/{tid}/labeling-queue/next", who).get_json()

    assert next_for(api.labeler)["set_id"] == "s0"
    assert next_for(ben)["set_id"] == "s1"  # s0 is lena's for now: one answer wanted, already promised
    assert next_for(api.labeler)["set_id"] == "s0"  # asking again returns the set one holds
    waiting = next_for(token(api, "cy"))
    assert waiting["set_id"] is None and "other labelers" in waiting["message"]
    put(api, tid, "s0", {KEYS[0]: "A", KEYS[1]: "A", KEYS[2]: "B"}, api.labeler)
    done = next_for(api.labeler)
    assert done["set_id"] is None  # s0 answered, s1 still ben's


def test_weight_by_confidence_reaches_the_fit(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three labelers answer a generation's sets from truth, one of them wrong on one record of the first set: its
    pairs are decided 2-1, stored with their posterior, and the next fit weighs them 2/3 (every other pair 1),
    which moves the classifier's probabilities."""
    from conftest import FIXTURES

    from matcher.pipeline import Matcher
    from services.run_context import load_labels
    from services.training_weights import pair_weights

    truth = pd.read_csv(FIXTURES / "people" / "truth.csv", dtype=str).set_index("id").iloc[:, 0]
    art = ArtifactStore(api.config.data_dir)
    policy = {"answers_per_set": 3, "consolidation": "majority_vote", "weight_by_confidence": True}
    tid = api.transform(rows=600, labeling_policy=policy)["id"]
    is_problem(api.call("PATCH", f"/transforms/{tid}", json={"labeling_policy": {"weight_by_confidence": 1}}),
               422, "labeling_policy.weight_by_confidence")

    def generate(seed: int) -> None:
        run = api.call("POST", f"/transforms/{tid}/task-runs", json={
            "type": "LABELING_SET_GENERATION", "params": {"num_sets": 10, "set_size": 10, "seed": seed}}).get_json()
        assert engine.execute(api.db, art, run["id"]) == "SUCCEEDED"

    generate(0)
    sets = [s["set_id"] for s in api.call("GET", f"/transforms/{tid}/labeling-sets").get_json()["labeling_sets"]]
    first = api.call("GET", f"/transforms/{tid}/labeling-sets/{sets[0]}").get_json()["record_keys"]
    for name in ("ana", "ben", "cy"):
        who = token(api, name)
        for set_id in sets:
            keys = api.call("GET", f"/transforms/{tid}/labeling-sets/{set_id}").get_json()["record_keys"]
            answer = {k: truth[k] for k in keys}
            if name == "cy" and set_id == sets[0]:
                answer[first[0]] = "cy's own group"  # cy alone says first[0] is no one else's match
            put(api, tid, set_id, answer, who)
    note = api.call("GET", f"/transforms/{tid}/labeling-sets/{sets[0]}").get_json()["consolidation"]
    stored = {(a, b): p for a, b, p in note["posteriors"]}
    assert len(stored) == len(first) * (len(first) - 1) // 2
    records = people_frame(600)
    labels = load_labels(api.db, tid, "id", records)
    weights = pair_weights(api.db, tid, labels)
    assert weights is not None and len(weights) == len(labels.pairs())
    two_to_one = weights["weight"] < 1
    assert set(weights.loc[two_to_one, "weight"]) == {0.67}
    split = weights[two_to_one]
    assert (split["labeling_set_id"] == sets[0]).all() and ((split["key_a"] == first[0]) |
                                                           (split["key_b"] == first[0])).all()
    assert two_to_one.sum() == sum(truth[k] == truth[first[0]] for k in first[1:])  # the matches cy denied

    fits: list[tuple[Matcher, Any, Any]] = []
    refit = Matcher.refit_labels

    def recording(self: Matcher, labels: Any, score_candidates: Any = None, weights: Any = None) -> Matcher:
        fits.append((self, labels, weights))
        return refit(self, labels, score_candidates, weights)

    monkeypatch.setattr(Matcher, "refit_labels", recording)
    generate(1)
    base, used_labels, used = fits[0]
    pd.testing.assert_frame_equal(used.reset_index(drop=True), weights.reset_index(drop=True))
    weighted, plain = refit(base, used_labels, None, used), refit(base, used_labels)
    assert weighted.classifier_ is not None and plain.classifier_ is not None
    assert not np.array_equal(weighted.prob_, plain.prob_)
