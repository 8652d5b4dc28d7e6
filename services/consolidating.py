"""Several labelers' answers to one decision per set, and each labeler measured (``matcher.consolidation``).

The consolidation runs over every answer to the transform's proposed, non-gold sets, not one set at a time:
Dawid-Skene learns a labeler's confusion from all the pairs they answered. Only *complete* sets (with the answers
the policy wants) get decided labels; a set a reviewer decided keeps the reviewer's labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.consolidation import ANSWER_COLUMNS, Consolidated, consolidate, group_labels, uncertain_pairs
from matcher.labels import SET_COLUMN
from services import auto_completion, label_history
from services.errors import NotFound
from services.label_rows import answers_of, decided_labels, replace_decided
from services.labeling_policy import LabelingPolicy, policy_of
from storage.db import Database
from storage.models import LabelingSet, Transform

Answers = dict[str, dict[str, dict[str, str]]]  # set id -> labeler -> record key -> label


def answers_frame(answers: Answers) -> pd.DataFrame:
    """One row per labeler per within-set pair both of whose records they labeled (``ANSWER_COLUMNS``)."""
    rows = []
    for set_id, by_labeler in answers.items():
        for labeler, labels in by_labeler.items():
            for a, b in combinations(sorted(labels), 2):
                rows.append((labeler, set_id, a, b, labels[a] == labels[b]))
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS).astype({"is_match": bool})


def reconsolidate(session: Session, transform_id: str, policy: LabelingPolicy, now: datetime) -> None:
    """Decide the complete, unreviewed sets from the consolidated answers; mark the uncertain ones for review.

    Every answer is consolidated (a labeler's confusion is learnt from all their pairs), but a set is regrouped
    only when its consolidated verdicts disagree with its labels (or it has none yet): three answers on 300 sets
    consolidate in about a second, regrouping every set would double that on every save."""
    proposals = {p.set_id: p for p in session.scalars(select(LabelingSet).where(
        LabelingSet.transform_id == transform_id, LabelingSet.gold_labels.is_(None)))}
    answers = {s: a for s, a in answers_of(session, transform_id, list(proposals)).items() if s in proposals}
    complete = sorted(s for s, by in answers.items()
                      if len(by) >= policy.answers_per_set and proposals[s].review_state != "decided")
    frame = answers_frame(answers)
    if not complete or frame.empty:
        return
    result = consolidate(frame, policy.consolidation)
    uncertain = uncertain_pairs(result, tuple(policy.review_band))  # type: ignore[arg-type]
    decided = decided_labels(session, transform_id, complete)
    pairs_of = {str(s): g for s, g in result.pairs.groupby(SET_COLUMN, sort=False)}
    doubts_of: dict[str, list[dict[str, Any]]] = {}
    for row in uncertain.to_dict("records"):  # one pass: per-set frames cost ~3 ms each
        doubts_of.setdefault(str(row[SET_COLUMN]), []).append(row)
    stale = _disagreeing(result.pairs, decided, complete)
    for set_id in complete:
        mine = pairs_of.get(set_id)
        if mine is None:
            continue
        if set_id in stale:
            groups = group_labels(Consolidated(mine, result.labelers, result.method, result.reason)).rows
            chosen = dict(zip(groups["key"], groups["label"], strict=True))
            before = decided.get(set_id, {})
            machine = auto_completion.machine_keys(proposals[set_id].machine_plan)  # rows added after deciding
            if chosen != {k: v for k, v in before.items() if k not in machine}:
                replace_decided(session, transform_id, set_id, chosen, label_history.MACHINE, now)
                label_history.record(session, transform_id, set_id, label_history.MACHINE, "consolidation",
                                     "decide", before, chosen, note=result.reason, at=now)
                auto_completion.complete_decided(session, transform_id, [set_id], now)
        posteriors = _posteriors(mine) if policy.weight_by_confidence else None
        _note(proposals[set_id], result, doubts_of.get(set_id, []), len(answers[set_id]), posteriors)


def _disagreeing(pairs: pd.DataFrame, decided: dict[str, dict[str, str]], complete: list[str]) -> set[str]:
    """The complete sets whose labels say otherwise than the consolidated verdict on some pair (or are missing)."""
    rows = [(s, k, v) for s in complete for k, v in decided.get(s, {}).items()]
    labels = pd.DataFrame(rows, columns=[SET_COLUMN, "key", "label"])
    mine = pairs[pairs[SET_COLUMN].isin(complete)]
    both = mine.merge(labels.rename(columns={"key": "key_a", "label": "label_a"}), on=[SET_COLUMN, "key_a"],
                      how="left").merge(labels.rename(columns={"key": "key_b", "label": "label_b"}),
                                        on=[SET_COLUMN, "key_b"], how="left")
    implied = (both["label_a"] == both["label_b"]) & both["label_a"].notna()
    unlabeled = both["label_a"].isna() | both["label_b"].isna()
    wrong = (implied.to_numpy(dtype=bool) != both["is_match"].to_numpy(dtype=bool)) | unlabeled.to_numpy(dtype=bool)
    return set(both.loc[wrong, SET_COLUMN].astype(str)) | {s for s in complete if not decided.get(s)}


def _posteriors(pairs: pd.DataFrame) -> list[list[Any]]:
    """A set's pair posteriors as ``[key_a, key_b, posterior]``, to 2 decimals: what training weighs its pairs by
    (``services.training_weights``); finer would rewrite every set on every save for no difference in a fit."""
    return [[str(a), str(b), round(float(p), 2)]
            for a, b, p in zip(pairs["key_a"], pairs["key_b"], pairs["posterior"], strict=True)]


def _note(proposal: LabelingSet, result: Consolidated, rows: list[dict[str, Any]], answers: int,
          posteriors: list[list[Any]] | None = None) -> None:
    """The set's review state and consolidation summary, rewritten only when they say something new (the
    posteriors move a little on every save; the uncertain pairs, the method and the count are what matter, and
    with ``weight_by_confidence`` the ``posteriors`` to 2 decimals)."""
    note = {"method": result.method, "reason": result.reason, "answers": answers,
            "uncertain_pairs": [{"key_a": r["key_a"], "key_b": r["key_b"], "posterior": round(float(r["posterior"]), 4),
                                 "n_answers": int(r["n_answers"]), "n_match_votes": int(r["n_match_votes"]),
                                 "why": r["why"]} for r in rows]}
    if posteriors is not None:
        note["posteriors"] = posteriors
    state = "needed" if rows else None
    old = proposal.consolidation or {}
    before = [(p["key_a"], p["key_b"]) for p in old.get("uncertain_pairs", [])]
    same = (old.get("method"), old.get("answers"), before) == (result.method, answers,
                                                              [(r["key_a"], r["key_b"]) for r in rows])
    same = same and old.get("posteriors") == posteriors
    if proposal.review_state != state or not same:
        proposal.review_state, proposal.consolidation = state, note


@dataclass
class LabelerStats:
    labeler: str
    sets_answered: int = 0
    pairs_answered: int = 0
    gold_pairs: int = 0
    gold_correct: int = 0
    estimated_accuracy: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_pairs if self.gold_pairs else None


@dataclass(frozen=True)
class LabelerReport:
    transform_id: str
    method: str | None
    reason: str
    labelers: list[LabelerStats]


def labeler_report(db: Database, transform_id: str) -> LabelerReport:
    """Each labeler's answers, accuracy on gold sets and (with several answers per pair) as consolidation
    estimates it; labelers under the policy's floor, on enough pairs, are flagged."""
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        policy = policy_of(transform.labeling_policy)
        proposals = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)))
        answers = answers_of(session, transform_id)
    gold = {p.set_id: p.gold_labels for p in proposals if p.gold_labels is not None}
    stats: dict[str, LabelerStats] = {}
    for set_id, by_labeler in answers.items():
        for labeler, labels in by_labeler.items():
            s = stats.setdefault(labeler, LabelerStats(labeler))
            s.sets_answered += 1
            s.pairs_answered += math.comb(len(labels), 2)
            if set_id in gold:
                n, right = _agreement(labels, gold[set_id])
                s.gold_pairs += n
                s.gold_correct += right
    pooled = {s: a for s, a in answers.items() if s not in gold and s in {p.set_id for p in proposals}}
    frame = answers_frame(pooled)
    method, reason = None, "no pair has answers from labelers yet"
    if not frame.empty and frame["labeler"].nunique() >= 2:
        result = consolidate(frame, policy.consolidation)
        method, reason = result.method, result.reason
        for row in result.labelers.itertuples():
            s = stats[str(row.labeler)]
            s.estimated_accuracy, s.sensitivity, s.specificity = (_num(row.accuracy), _num(row.sensitivity),
                                                                  _num(row.specificity))
    for s in stats.values():
        s.flags = _flags(s, policy)
    return LabelerReport(transform_id, method, reason, sorted(stats.values(), key=lambda s: s.labeler))


def _agreement(answer: dict[str, str], gold: dict[str, Any]) -> tuple[int, int]:
    """Pairs of the answer whose both records the gold set labels, and how many the answer gets right."""
    keys = sorted(k for k in answer if k in gold)
    n = right = 0
    for a, b in combinations(keys, 2):
        n += 1
        right += (answer[a] == answer[b]) == (gold[a] == gold[b])
    return n, right


def _flags(s: LabelerStats, policy: LabelingPolicy) -> list[str]:
    floor, enough = policy.accuracy_floor, policy.min_pairs_to_flag
    flags = []
    if s.gold_pairs >= enough and s.gold_accuracy is not None and s.gold_accuracy < floor:
        flags.append(f"accuracy on gold sets {s.gold_accuracy:.2f} < floor {floor:.2f} ({s.gold_pairs} pairs)")
    if s.estimated_accuracy is not None and s.pairs_answered >= enough and s.estimated_accuracy < floor:
        flags.append(f"estimated accuracy {s.estimated_accuracy:.2f} < floor {floor:.2f}")
    return flags


def _num(value: Any) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def stats_json(report: LabelerReport) -> dict[str, Any]:
    return {"transform_id": report.transform_id, "consolidation": report.method, "reason": report.reason,
            "labelers": [{"labeler": s.labeler, "sets_answered": s.sets_answered, "pairs_answered": s.pairs_answered,
                          "gold_pairs": s.gold_pairs, "gold_accuracy": None if s.gold_accuracy is None
                          else round(s.gold_accuracy, 4), "estimated_accuracy": s.estimated_accuracy,
                          "sensitivity": s.sensitivity, "specificity": s.specificity, "flagged": bool(s.flags),
                          "flags": s.flags} for s in report.labelers]}
