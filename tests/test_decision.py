"""Fit, then decide: a fitted matcher answers any decisions in any order with the same outputs and is never
written into, neither by ``predict`` nor by any module outside ``matcher/``."""

from __future__ import annotations

import ast
import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import make_labels, score_output

from matcher.decision import Decision
from matcher.errors import SettingsError
from matcher.labels import read_labels
from matcher.pipeline import Matcher
from matcher.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_CORE = ("storage", "services", "labeling_ui", "workers", "server", "bench")


def fingerprint(value: Any, depth: int = 0) -> str:
    """A digest of a fitted object's whole state: arrays by their bytes, frames by their values, objects by
    their attributes (recursively), so that any write into the fitted model changes it."""
    digest = hashlib.sha256()
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else repr(value.tolist()).encode())
    elif isinstance(value, pd.DataFrame):
        digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        digest.update(repr(list(value.columns)).encode())
    elif isinstance(value, dict):
        for k in sorted(value, key=repr):
            digest.update(repr(k).encode() + fingerprint(value[k], depth + 1).encode())
    elif isinstance(value, list | tuple):
        for item in value:
            digest.update(fingerprint(item, depth + 1).encode())
    elif hasattr(value, "__dict__") and depth < 6 and not callable(value):
        digest.update(type(value).__name__.encode())
        digest.update(fingerprint(vars(value), depth + 1).encode())
    else:
        digest.update(repr(value).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def labeled_people(people) -> Matcher:
    records, truth, _ = people
    fitted = Matcher(Settings(primary_key="id")).fit(records)
    frame = make_labels(records, truth, fitted.candidates_.left, fitted.candidates_.right, n_sets=20, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitted.refit_labels(read_labels(frame, "id", known_keys=records["id"]))


DECISIONS = [Decision(), Decision(precision_recall_tradeoff=0.1), Decision(precision_recall_tradeoff=0.9),
             Decision(enforce_labels=True), Decision(precision_recall_tradeoff=0.3, max_cluster_size=2),
             Decision(precision_recall_tradeoff=1.0, enforce_labels=True)]


def _outputs(fitted: Matcher, order: list[int]) -> dict[int, tuple[str, str]]:
    out = {}
    for i in order:
        result = fitted.predict(DECISIONS[i])
        out[i] = (result.records.to_csv(index=False), repr(sorted(result.stats.items(), key=lambda kv: kv[0])))
    return out


def test_decisions_in_any_order_give_the_same_outputs_and_change_nothing(people, labeled_people: Matcher) -> None:
    records, truth, _ = people
    before = fingerprint(labeled_people)
    forward = _outputs(labeled_people, list(range(len(DECISIONS))))
    backward = _outputs(labeled_people, list(reversed(range(len(DECISIONS)))))
    shuffled = _outputs(labeled_people, [3, 0, 5, 1, 4, 2, 0, 3])
    assert forward == backward == {i: shuffled[i] for i in forward}
    assert fingerprint(labeled_people) == before
    # the decisions do decide: stricter is fewer links, and the cap binds
    f1 = {i: score_output(labeled_people.predict(DECISIONS[i]).records, truth) for i in (1, 2)}
    assert f1[2]["precision"] >= f1[1]["precision"] and f1[1]["recall"] >= f1[2]["recall"]
    sizes = labeled_people.predict(DECISIONS[4]).records["match_id"].value_counts()
    assert sizes.max() == 2
    assert labeled_people.predict(DECISIONS[1]).stats["threshold"] < labeled_people.threshold < \
        labeled_people.predict(DECISIONS[2]).stats["threshold"]


def test_the_keyword_form_is_the_decision_of_the_settings_with_fields_replaced(labeled_people: Matcher) -> None:
    before = fingerprint(labeled_people)
    by_keyword = labeled_people.predict(precision_recall_tradeoff=0.8, enforce_labels=True)
    by_value = labeled_people.predict(Decision(precision_recall_tradeoff=0.8, enforce_labels=True))
    pd.testing.assert_frame_equal(by_keyword.records, by_value.records)
    assert by_keyword.stats == by_value.stats
    assert fingerprint(labeled_people) == before  # the keyword no longer overwrites the settings
    assert labeled_people.settings_.precision_recall_tradeoff == 0.5


def test_refit_returns_a_new_matcher_and_leaves_the_old_one(people, labeled_people: Matcher) -> None:
    records, truth, _ = people
    before = fingerprint(labeled_people)
    frame = make_labels(records, truth, labeled_people.candidates_.left, labeled_people.candidates_.right,
                        n_sets=5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refitted = labeled_people.refit_labels(read_labels(frame, "id", known_keys=records["id"]))
    assert refitted is not labeled_people and len(refitted.labeled_.left) != len(labeled_people.labeled_.left)
    assert fingerprint(labeled_people) == before


@pytest.mark.parametrize(("fields", "named"), [
    ({"precision_recall_tradeoff": 1.5}, "precision_recall_tradeoff"),
    ({"precision_recall_tradeoff": "high"}, "precision_recall_tradeoff"),
    ({"precision_recall_tradeoff": True}, "precision_recall_tradeoff"),
    ({"enforce_labels": "yes"}, "enforce_labels"),
    ({"one_to_one": 1}, "one_to_one"),
    ({"max_cluster_size": 1}, "max_cluster_size"),
    ({"max_cluster_size": 2.5}, "max_cluster_size"),
])
def test_a_decision_is_validated_once_naming_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Decision(**fields)


def test_one_to_one_needs_a_source_column(labeled_people: Matcher) -> None:
    with pytest.raises(SettingsError, match="source column"):
        labeled_people.predict(Decision(one_to_one=True))


def matcher_attributes() -> set[str]:
    """Every attribute a Matcher sets on itself (``self.name = ...`` in matcher/pipeline.py's class)."""
    tree = ast.parse((ROOT / "matcher" / "pipeline.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Matcher"):
        for node in ast.walk(cls):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and \
                            leaf.value.id == "self":
                        found.add(leaf.attr)
    return found


def attribute_writes(source: str, names: set[str]) -> list[int]:
    """Lines that assign or delete an attribute named in ``names`` (on anything but ``self``), write through a
    matcher's ``settings_``, or call setattr/delattr with such a name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("setattr", "delattr") and len(node.args) >= 2 and \
                isinstance(node.args[1], ast.Constant) and node.args[1].value in names:
            lines.append(node.lineno)
        for target in targets:
            for leaf in ast.walk(target):
                if not isinstance(leaf, ast.Attribute):
                    continue
                own = isinstance(leaf.value, ast.Name) and leaf.value.id == "self"
                through_settings = isinstance(leaf.value, ast.Attribute) and leaf.value.attr == "settings_"
                if (leaf.attr in names and not own) or through_settings:
                    lines.append(node.lineno)
    return sorted(set(lines))


def test_the_check_finds_attribute_writes() -> None:
    names = {"prob_", "settings_", "records_"}
    source = ("m.prob_ = 1\nfitted.settings_.precision_recall_tradeoff = 0.2\ndel m.records_\n"
              "setattr(m, 'prob_', 2)\nx, m.records_ = 1, 2\nself.prob_ = 3\nt.name = 4\n")
    assert attribute_writes(source, names) == [1, 2, 3, 4, 5]


def test_no_module_outside_the_core_writes_into_a_matcher() -> None:
    names = matcher_attributes()
    assert {"settings_", "prob_", "classifier_", "candidate_design_", "records_"} <= names

    offenders = []
    for package in OUTSIDE_CORE:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line in attribute_writes(path.read_text(encoding="utf-8"), names):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "only matcher/ may write a fitted matcher's attributes: " + ", ".join(offenders)
