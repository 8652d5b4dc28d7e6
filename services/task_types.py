"""The handlers of the task run types (Glue's names; ``services.run_types`` registers each with its params and
main output). A handler computes everything in memory and returns an ``Outcome``; it never writes files or
commits rows itself, so a failed or stopped run leaves nothing behind.

Output files (deterministic names under ``outputs/<run id>/``):

    LABELING_SET_GENERATION  labeling_set.csv (+ labeling_sets rows with why each set was chosen)
    EVALUATION               evaluation.json  (+ transforms.evaluation_metrics)
    FIND_MATCHES             matches.csv, matches.parquet (every input row + match_id, match_confidence_score;
                             match_id is the transform's entity store's stable id, services.entity_stores),
                             changes.csv/.parquet (the store's entity changelog of this run),
                             record_changes.csv/.parquet (per record whose id changed: old and new id),
                             model.zip (the model it matched with, docs/model-format.md: services.models;
                             the imported file itself when it applied one, services.model_import),
                             stats.json, pairs.parquet (scored pairs inside clusters, per-column contributions),
                             clusters.parquet (records of clusters of 2+ in review order, for the Matches page)
    FIND_INCREMENTAL_MATCHES matches.csv, matches.parquet (the batch's rows), changes.csv/.parquet,
                             record_changes.csv/.parquet, stats.json (services.entity_stores)
    EXPORT_LABELS            labels.csv (re-importable labeling file)
    IMPORT_LABELS            import_summary.json (+ labels rows, appended per set or replacing all)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from matcher.active import choose_sets, labeling_file
from matcher.errors import shown
from matcher.evaluate import evaluate
from matcher.io import to_arrow
from matcher.labels import SET_COLUMN, Labels, read_labels
from services import auto_completion, auto_labeling, entity_stores, label_history, run_types
from services.clusters import ClusterRanks, explain_clusters, review_table
from services.errors import ValidationError
from services.label_rows import decided_labels, lock_transform
from services.labeling_policy import policy_of
from services.model_import import imported_matcher
from services.models import MODEL_FILE, model_files
from services.run_context import FileContent, Outcome, RunContext, jsonable
from services.upload_retention import resolve_upload
from storage.models import Label, LabelAnswer, LabelingSet, Transform, utcnow

IN_CLAUSE_CHUNK = 500  # ids per IN (...) list: far below SQLite's bound-parameter limit


def _param(ctx: RunContext, name: str) -> int:
    """As the run was started (checked again: a row may have been written by an older version), or the default."""
    param = run_types.get(ctx.claimed.run.type).param(name)
    if not isinstance(param, run_types.IntParam):
        raise TypeError(f"{name} is not an integer param")
    return param.read(ctx.params)


def labeling_set_generation(ctx: RunContext) -> Outcome:
    num_sets, set_size, seed = (_param(ctx, name) for name in ("num_sets", "set_size", "seed"))
    records = ctx.records()
    labels = ctx.labels(records)
    matcher = ctx.matcher(records, labels)
    ctx.progress.report("choosing sets", 0.92)
    exclude = (labels.key_set() if labels is not None else set()) | _answered_keys(ctx)
    sets = choose_sets(matcher, num_sets, set_size, exclude, seed=seed)
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    policy = policy_of(ctx.transform.labeling_policy)
    machine = auto_labeling.machine_share(matcher, sets, policy, seed) if labels is not None else None
    rows = [{"transform_id": ctx.transform.id, "set_id": s.set_id, "task_run_id": ctx.claimed.run.id,
             "record_keys": machine.human_keys(s, keys) if machine else [str(k) for k in keys[s.rows]],
             "machine_plan": jsonable(machine.plans.get(s.set_id)) if machine else None,
             "reason": jsonable(auto_labeling.reason_with(s.reason, machine, s.set_id))} for s in sets]

    def apply(session: Session) -> None:
        """Set ids derive from their members, so a re-run proposes the same ids: replace, never duplicate."""
        for chunk in _chunks([r["set_id"] for r in rows]):
            session.execute(delete(LabelingSet).where(LabelingSet.transform_id == ctx.transform.id,
                                                      LabelingSet.set_id.in_(chunk)))
        if rows:
            session.execute(insert(LabelingSet), rows)
        auto_labeling.apply(session, ctx.transform.id, machine, utcnow())

    files: dict[str, FileContent] = {"labeling_set.csv": labeling_file(
        matcher, machine.for_humans(sets, keys) if machine else sets)}
    if machine is not None:
        files["auto_labeling.json"] = jsonable(machine.summary)
    return Outcome(files, apply)


def evaluation(ctx: RunContext) -> Outcome:
    records = ctx.records()
    labels = ctx.labels(records)
    if labels is None:
        raise ValidationError("no labels to evaluate with: import labels or label a labeling set first")
    matcher = ctx.matcher(records, labels, share=0.7)
    ctx.progress.report("cross-validating", 0.75)
    report = jsonable(evaluate(matcher, _generations(ctx)))
    machine = auto_labeling.report(ctx.db, ctx.transform.id)
    if machine is not None:
        report["auto_labeling"] = jsonable(machine)  # the machine's labels measured against the humans' checks

    def apply(session: Session) -> None:
        session.get_one(Transform, ctx.transform.id).evaluation_metrics = report

    return Outcome({"evaluation.json": report}, apply)


def _answered_keys(ctx: RunContext) -> set[str]:
    """Records some labeler answered in a set not decided yet (several answers wanted): not proposed again."""
    with ctx.db.session() as session:
        return {str(k) for k in session.scalars(select(LabelAnswer.record_key).distinct().where(
            LabelAnswer.transform_id == ctx.transform.id))}


def _generations(ctx: RunContext) -> dict[str, str]:
    """Each proposed labeling set's generating run: the rounds of the learning curve (imported sets have none)."""
    with ctx.db.session() as session:
        rows = session.execute(select(LabelingSet.set_id, LabelingSet.task_run_id)
                               .where(LabelingSet.transform_id == ctx.transform.id,
                                      LabelingSet.task_run_id.is_not(None))).all()
    return {str(set_id): str(run) for set_id, run in rows}


def find_matches(ctx: RunContext) -> Outcome:
    """The explanations of the pairs inside clusters are handed out to free workers on large runs and
    gathered when the engine writes pairs.parquet, after the other files: it explains while this one writes."""
    beyond = entity_stores.records_beyond(ctx)
    ctx.use_extra_records(beyond.records)  # what incremental runs added stays matched
    imported = imported_matcher(ctx)  # an imported model in effect is applied, nothing fitted
    if imported is None:
        keys = ctx.record_keys()  # the other columns only matter to the output rows, built from the file in Arrow
        matcher = ctx.matcher(keys, ctx.labels(keys), fit_records=ctx.records, meanwhile=ctx.read_dataset_ahead)
        model = model_files(matcher)
    else:
        matcher, version, data = imported
        model = {MODEL_FILE: data}  # the run's model is the imported file itself, byte for byte
    ctx.progress.report("clustering", 0.92)
    result = matcher.predict()
    ctx.progress.report("writing the entity store", 0.93)
    stored = entity_stores.write_from_fit(ctx, matcher, result, beyond.version)  # match ids: the store's stable ones
    ctx.progress.report("explaining pairs", 0.95)
    ranks = ClusterRanks.of(stored.records)
    pairs = explain_clusters(matcher, stored.records, ranks, ctx.odds_of(len(matcher.candidates_)))
    matches: pd.DataFrame | pa.Table | None = ctx.output_rows(stored.records)  # one table for three files
    if matches is None:
        records = ctx.records()
        for column in ("match_id", "match_confidence_score"):
            records[column] = stored.records[column].to_numpy()
        rows = to_arrow(records)
        matches = records if rows is None else rows
    stats = {**result.stats, "store_version": stored.version}
    if imported is not None:
        stats["imported_model"] = version  # which import it applied (listed as that run's model metrics too)
    files: dict[str, FileContent] = {"matches.csv": matches, "matches.parquet": matches,
                                     "stats.json": stats, "pairs.parquet": pairs,
                                     **stored.files(),
                                     "clusters.parquet": review_table(matches, ranks), **model}
    return Outcome(files)


def export_labels(ctx: RunContext) -> Outcome:
    records = ctx.records()
    labels = ctx.labels(records) or Labels.empty()
    frame = labels.to_frame(records, ctx.transform.primary_key)
    return Outcome({"labels.csv": frame})


def import_labels(ctx: RunContext) -> Outcome:
    """Append (a set id in the file replaces that whole set, as ``Labels.append``) or replace every label.
    Labels are attributed to the user who started the import, at the time of the import."""
    replace = ctx.params.get("replace", False)
    if not isinstance(replace, bool):
        raise ValidationError(f"replace must be true or false, got {shown(replace)}", field="replace")
    path = resolve_upload(ctx.store.root, ctx.params.get("path"))
    records = ctx.records()
    labels = read_labels(path, ctx.transform.primary_key, known_keys=records[ctx.transform.primary_key])
    replaced = sorted(set(labels.rows[SET_COLUMN]) | (set(labels.unlabeled_per_set) - {""}))
    now, who = utcnow(), ctx.claimed.user_name
    filename = str(ctx.params.get("filename") or Path(path).name)  # the user's name for the file, if known
    gold = ctx.params.get("gold", False)
    if not isinstance(gold, bool):
        raise ValidationError(f"gold must be true or false, got {shown(gold)}", field="gold")
    rows = [{"transform_id": ctx.transform.id, "labeling_set_id": r[SET_COLUMN], "record_key": r["key"],
             "label": r["label"], "labeled_by": who, "labeled_at": now} for r in labels.rows.to_dict("records")]

    def apply(session: Session) -> None:
        """One transaction: deleting first makes a re-delivered import rewrite, never double, its rows (and find
        nothing changed to add to the audit trail)."""
        mine = Label.transform_id == ctx.transform.id
        lock_transform(session, ctx.transform.id)
        before = decided_labels(session, ctx.transform.id) if replace else {
            k: v for chunk in _chunks(replaced) for k, v in decided_labels(session, ctx.transform.id, chunk).items()}
        if replace:
            session.execute(delete(Label).where(mine))
        else:
            for chunk in _chunks(replaced):
                session.execute(delete(Label).where(mine, Label.labeling_set_id.in_(chunk)))
        session.execute(insert(Label), rows)
        after: dict[str, dict[str, str]] = {}
        for row in rows:
            after.setdefault(row["labeling_set_id"], {})[row["record_key"]] = row["label"]
        for set_id in sorted(set(before) | set(after)):
            label_history.record(session, ctx.transform.id, set_id, who or "unknown", "csv_import", "import",
                                 before.get(set_id, {}), after.get(set_id, {}), note=filename, at=now)
        if gold:
            _mark_gold(session, ctx.transform.id, after, who or "unknown", filename, now)
        for chunk in _chunks(sorted(after)):  # sets the machine completes get its records (not gold ones)
            auto_completion.complete_decided(session, ctx.transform.id, chunk, now)

    summary = _import_summary(labels, replace, replaced, who, Path(path).name)
    return Outcome({"import_summary.json": summary}, apply)


def _mark_gold(session: Session, transform_id: str, labels: dict[str, dict[str, str]], who: str, filename: str,
               now: datetime) -> None:
    """An imported gold file: each of its sets becomes a gold set with the file's labels as its answer key."""
    existing = {p.set_id: p for chunk in _chunks(sorted(labels)) for p in session.scalars(
        select(LabelingSet).where(LabelingSet.transform_id == transform_id, LabelingSet.set_id.in_(chunk)))}
    for set_id, answer_key in sorted(labels.items()):
        row = existing.get(set_id)
        if row is None:
            row = LabelingSet(transform_id=transform_id, set_id=set_id, record_keys=sorted(answer_key),
                              reason={"source": "gold file"})
            session.add(row)
        before = dict(row.gold_labels or {})
        row.gold_labels = dict(answer_key)
        label_history.record(session, transform_id, set_id, who, "csv_import", "gold", before, answer_key,
                             note=filename, at=now)


def _import_summary(labels: Labels, replace: bool, replaced: list[str], who: str | None, name: str
                    ) -> dict[str, Any]:
    contradictions = labels.contradictions()
    return {"mode": "replace" if replace else "append", "file": name, "labeled_by": who,
            "sets_written": len(replaced), **labels.summary(),
            "contradictions": len(contradictions),
            "contradiction_examples": jsonable(contradictions.head(5).to_dict("records"))}


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + IN_CLAUSE_CHUNK] for i in range(0, len(values), IN_CLAUSE_CHUNK)]

