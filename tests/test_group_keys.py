"""Group keys: a blocking rule whose blocks mostly hold different identities (a household's phone and address) is
named as such, with its evidence, and a key of identity (an email, a birth date) is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher.cli import main
from matcher.group_keys import judge_rules
from matcher.io import read_table
from matcher.pipeline import Matcher
from matcher.settings import Settings

PEOPLE = Path(__file__).resolve().parents[1] / "examples" / "people"
FIRST = ["anna", "bruno", "clara", "dmitri", "elena", "felix", "greta", "hugo", "irene", "jonas", "karla", "leon",
         "maria", "nils", "olga", "pavel", "rosa", "stefan", "tanja", "ulrich", "vera", "walter", "xenia", "yusuf"]
LAST = [a + b for a in ("berg", "feld", "hof", "mann", "stein", "wald") for b in ("er", "ling", "ner", "sen", "ov")]


def households(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """60 households of 2-4 different people sharing surname, address and phone (distinct first names, birth
    dates and emails), 120 people living alone; a fifth of the household members and half of the others
    have a second record (a typo in its first name now and then). Records and the true person of each."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, str]] = []
    person: list[int] = []

    def add(last: str, address: str, phone: str, copies: int) -> None:
        pid = len(set(person))
        record = {"first_name": FIRST[rng.integers(len(FIRST))], "last_name": last,
                  "birth_date": f"{rng.integers(1930, 2010)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
                  "address": address, "phone": phone, "email": f"p{pid:05d}@mail.example"}
        for copy in range(copies):
            row = dict(record)
            if copy and rng.random() < 0.3:
                row["first_name"] = row["first_name"][:-1] + "x"
            rows.append(row)
            person.append(pid)

    for h in range(60):
        for _ in range(rng.integers(2, 5)):
            add(LAST[h % len(LAST)], f"{h + 1} elm street", f"555-{1000 + h}", 1 + int(rng.random() < 0.2))
    for a in range(120):
        add(LAST[rng.integers(len(LAST))], f"{a + 1} oak road", f"555-{5000 + a}", 1 + int(rng.random() < 0.5))
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", [f"r{i:04d}" for i in range(len(frame))])
    return frame, np.array(person)


@pytest.fixture(scope="module")
def household_fit() -> tuple[pd.DataFrame, np.ndarray, Matcher]:
    records, person = households()
    return records, person, Matcher(Settings(primary_key="id")).fit(records)


def _rules(found: list) -> set[str]:
    return {" & ".join(g.rule) for g in found}


def test_the_household_phone_and_address_are_judged_group_keys(household_fit) -> None:
    records, person, matcher = household_fit
    named = {g["rule"]: g for g in matcher.predict().stats["group_keys"]}
    assert {"phone", "address"} <= set(named)
    for rule in ("phone", "address"):
        # the evidence: how many of the key's pairs were judged and the share found different people, which is
        # the share that truly are different people (a household of 3 with one duplicate: 6 pairs, 5 different)
        codes = matcher.table_.keys[rule]
        left, right = matcher.candidates_.left, matcher.candidates_.right
        inside = (codes[left] == codes[right]) & (codes[left] >= 0)
        truly_different = float((person[left[inside]] != person[right[inside]]).mean())
        assert named[rule]["pairs_judged"] == int(inside.sum())  # every pair has other columns to judge it by
        assert named[rule]["different_identities"] > 0.5
        assert abs(named[rule]["different_identities"] - truly_different) < 0.1
    # keys of identity are not group keys
    assert not {"email", "birth_date", "email & birth_date"} & set(named)


def test_a_group_key_still_proposes_candidates_but_does_not_link_a_household(household_fit) -> None:
    """'Does not dominate': the phone rule is still used, yet the pairs it proposes that are different people
    (household members) are not linked, and its pairs that are the same person are."""
    records, person, matcher = household_fit
    assert any(r.used and r.keys == ("phone",) for r in matcher.blocker_.rules_)
    match_id = matcher.predict().records["match_id"].to_numpy()
    codes = matcher.table_.codes["phone"]
    left, right = matcher.candidates_.left, matcher.candidates_.right
    shared = (codes[left] == codes[right]) & (codes[left] >= 0)
    different = shared & (person[left] != person[right])
    same = shared & (person[left] == person[right])
    assert different.sum() > 200 and same.sum() > 50
    assert (match_id[left[different]] == match_id[right[different]]).mean() < 0.05
    assert (match_id[left[same]] == match_id[right[same]]).mean() > 0.95


def test_the_judgement_moves_with_its_share(household_fit) -> None:
    """The one constant, GROUP_SHARE, means 'more than this share of the pairs are different identities'."""
    _, _, matcher = household_fit
    judged = {share: _rules(judge_rules(matcher.table_, matcher.blocker_.rules_, matcher.candidates_,
                                        matcher.fs_, share=share)) for share in (0.3, 0.5, 0.9)}
    assert judged[0.9] <= judged[0.5] <= judged[0.3]
    assert "phone" in judged[0.5] and "phone" not in judged[0.9]


def test_no_identity_key_is_a_group_key_on_people_data() -> None:
    """examples/people (bench/synth.py, Febrl-like): the email, birth date and phone keys propose the same person;
    only namesake and town keys (a first name shared by many people) may be named."""
    records = read_table(PEOPLE / "records.csv", "id", None)
    matcher = Matcher(Settings(primary_key="id")).fit(records)
    named = {g["rule"] for g in matcher.predict().stats["group_keys"]}
    used = {" & ".join(r.keys) for r in matcher.blocker_.rules_ if r.used}
    assert {"email", "dob", "phone"} <= used
    columns_named = {key.split("~", 1)[0] for rule in named for key in rule.split(" & ")}
    assert not columns_named & {"email", "dob", "phone"}
    assert named <= {rule for rule in used if set(rule.split(" & ")) <= {
        "given_name", "given_name~phonetic", "surname", "surname~phonetic", "city", "city~phonetic"}}


def test_the_cli_stats_name_the_group_keys(tmp_path: Path) -> None:
    records, _ = households()
    records.to_csv(tmp_path / "h.csv", index=False)
    stats = tmp_path / "stats.json"
    assert main(["match", str(tmp_path / "h.csv"), "--primary-key", "id", "--output", str(tmp_path / "o.csv"),
                 "--stats-output", str(stats), "--quiet"]) == 0
    found = {g["rule"]: g for g in json.loads(stats.read_text())["group_keys"]}
    assert {"phone", "address"} <= set(found)
    assert set(found["phone"]) == {"rule", "pairs_judged", "different_identities"}


def test_a_rule_is_not_judged_where_the_other_columns_say_nothing() -> None:
    """One column of company names, each written two or three times, neighbours sharing words: its key has nothing
    beside it to be judged by. No prior stands in for evidence (matches are 15% of these candidates: the prior
    alone would call every pair of the key different)."""
    rng = np.random.default_rng(1)
    names = [f"w{k:03d} w{k + 1:03d} w{k + 2:03d} holdings" for k in range(150)]
    rows = [name for name in names for _ in range(int(rng.integers(2, 4)))]
    records = pd.DataFrame({"id": [f"c{i:04d}" for i in range(len(rows))], "company": rows})
    matcher = Matcher(Settings(primary_key="id")).fit(records)
    assert any(r.used and r.keys == ("company",) for r in matcher.blocker_.rules_)
    assert matcher.fs_.prior_ < 0.5
    assert matcher.predict().stats["group_keys"] == []
