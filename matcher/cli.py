"""The ``matcher`` command line. Other tools script against these verbs and flags; keep them stable.

User errors end with exit code 2 and one line on stderr (``matcher: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from matcher import __version__
from matcher.active import MAX_SET, MIN_SET, choose_sets, labeling_file
from matcher.cli_store import add_store_verbs
from matcher.decision import Decision
from matcher.entity_store import EntityStore
from matcher.errors import MatcherError, SettingsError
from matcher.evaluate import evaluate
from matcher.incremental import store_from_fit
from matcher.io import read_table, write_table
from matcher.labels import Labels, read_labels
from matcher.model_file import load_model, save_model
from matcher.pipeline import Matcher
from matcher.progress import StderrBar
from matcher.results import MatchResult
from matcher.settings import Settings

GROUP_KEYS_SHOWN = 5  # on stderr; --stats-output has them all


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def _add_data_args(p: argparse.ArgumentParser, labels_required: bool = False) -> None:
    p.add_argument("data", help="CSV (UTF-8, cp1252/latin-1 detected) or Parquet file")
    p.add_argument("--primary-key", required=True, help="column that uniquely identifies each record")
    p.add_argument("--source-column", help="records with the same value here are never compared (linkage)")
    p.add_argument("--labels", required=labels_required, help="labeling file: labeling_set_id,label,<columns>")
    p.add_argument("--settings", help="settings JSON (column types, knobs); command-line flags override it")
    p.add_argument("--accuracy-cost", type=_unit_interval, help="candidate search width, 0..1 (default 0.5)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matcher", description="Find records that refer to the same entity.")
    parser.add_argument("--version", action="version", version=f"matcher {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    match = verbs.add_parser("match", help="cluster duplicate records; writes match_id and match_confidence_score")
    _add_data_args(match)
    match.add_argument("--precision-recall", type=_unit_interval,
                       help="decision threshold on the match probability, 0..1 (1 favours precision; default 0.5)")
    match.add_argument("--enforce-labels", action="store_true",
                       help="labeled matches end in one cluster, labeled non-matches in different ones")
    match.add_argument("--one-to-one", action=argparse.BooleanOptionalAction, default=None,
                       help="linkage: each record links to at most one other (default: decided from the data "
                            "and labels; --no-one-to-one turns it off)")
    match.add_argument("--output", required=True, help="output CSV or Parquet: every input row + match columns")
    match.add_argument("--pairs-output", help="scored candidate pairs with per-column contributions")
    match.add_argument("--pairs-min-probability", type=_unit_interval, default=0.05,
                       help="smallest match probability written to --pairs-output (default 0.05)")
    match.add_argument("--stats-output", help="write run statistics (blocking, model, clusters) as JSON")
    match.add_argument("--write-settings", help="save the settings actually used (with inferred column types)")
    match.add_argument("--save-model", metavar="MODEL",
                       help="save the fitted model to this file (docs/model-format.md) to apply it later with --model")
    match.add_argument("--model", metavar="MODEL",
                       help="apply a model saved by --save-model instead of fitting one: to the same file or a new "
                            "one with its columns (no --labels, --settings or --accuracy-cost: the model has them)")
    match.add_argument("--store", metavar="DIR",
                       help="keep the matched records and their entities in this entity store (created, or "
                            "reconciled so that entity ids survive the re-run) for `match-incremental`")
    match.add_argument("--changes", help="with --store: the entity changelog of this run against the store")
    match.set_defaults(run=run_match)

    sets = verbs.add_parser("labeling-set", help="choose records for humans to label (Glue's labeling file)")
    _add_data_args(sets)
    sets.add_argument("--num-sets", type=int, default=10, help="number of labeling sets (default 10)")
    sets.add_argument("--set-size", type=int, default=12, help="records per set, 2..20 (default 12)")
    sets.add_argument("--seed", type=int, default=0, help="seed for the random part of set selection")
    sets.add_argument("--output", required=True, help="labeling file: labeling_set_id,label,<every column>")
    sets.add_argument("--reasons-output", help="JSON: why each set was chosen")
    sets.set_defaults(run=run_labeling_set)

    evaluate = verbs.add_parser("evaluate", help="estimate quality from labels (cross-validated by labeling set)")
    _add_data_args(evaluate, labels_required=True)
    evaluate.add_argument("--precision-recall", type=_unit_interval, help="threshold to evaluate at (default 0.5)")
    evaluate.add_argument("--one-to-one", action=argparse.BooleanOptionalAction, default=None,
                          help="evaluate one-to-one linkage (second stage included) or not; default: as `match` "
                               "decides")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    evaluate.set_defaults(run=run_evaluate)
    add_store_verbs(verbs, _unit_interval)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    base = Settings.from_json_file(args.settings).to_dict() if args.settings else {}
    base["primary_key"] = args.primary_key
    if args.source_column:
        base["source_column"] = args.source_column
    overrides = {
        "accuracy_cost_tradeoff": getattr(args, "accuracy_cost", None),
        "precision_recall_tradeoff": getattr(args, "precision_recall", None),
    }
    base.update({k: v for k, v in overrides.items() if v is not None})
    if getattr(args, "enforce_labels", False):
        base["enforce_labels"] = True
    if getattr(args, "one_to_one", None) is not None:
        base["one_to_one"] = args.one_to_one
    return Settings.from_dict(base)


def fit_matcher(args: argparse.Namespace) -> Matcher:
    settings = _settings(args)
    records = read_table(args.data, settings.primary_key, settings.source_column)
    labels = None
    if args.labels:
        labels = read_labels(args.labels, settings.primary_key, known_keys=records[settings.primary_key])
        _warn_contradictions(labels)
    progress = None if args.quiet else StderrBar()
    return Matcher(settings, progress=progress, keep_index=bool(getattr(args, "store", None))).fit(records, labels)


def _warn_contradictions(labels: Labels) -> None:
    found = labels.contradictions()
    for row in found.head(5).itertuples(index=False):
        warnings.warn(f"labels contradict each other: {row.key_a} and {row.key_b} match in set(s) "
                      f"{', '.join(row.match_set_ids)} but not in set(s) {', '.join(row.nonmatch_set_ids)}",
                      UserWarning, stacklevel=2)
    if len(found) > 5:
        warnings.warn(f"... and {len(found) - 5} more contradicting pairs", UserWarning, stacklevel=2)


def run_labeling_set(args: argparse.Namespace) -> int:
    if not 1 <= args.num_sets <= 1000:
        raise SettingsError("--num-sets must be between 1 and 1000")
    if not MIN_SET <= args.set_size <= MAX_SET:
        raise SettingsError(f"--set-size must be between {MIN_SET} and {MAX_SET}")
    matcher = fit_matcher(args)
    exclude = matcher.labels_.key_set() if matcher.labels_ is not None else set()
    sets = choose_sets(matcher, args.num_sets, args.set_size, exclude, seed=args.seed)
    write_table(labeling_file(matcher, sets), args.output)
    if args.reasons_output:
        reasons = {s.set_id: s.reason for s in sets}
        Path(args.reasons_output).write_text(json.dumps(reasons, indent=2), encoding="utf-8")
    if not args.quiet:
        print(f"{len(sets)} labeling sets, {sum(len(s.rows) for s in sets)} records -> {args.output}",
              file=sys.stderr)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    report = evaluate(fit_matcher(args))
    if args.json:
        print(json.dumps(report))
        return 0
    cm = report["confusion_matrix"]
    print(f"model: {report['model']} at threshold {report['threshold']}")
    if report.get("one_to_one_reason"):
        print(report["one_to_one_reason"])
    print(f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  f1 {report['f1']:.4f}  "
          f"area under PR curve {report['area_under_pr_curve']}")
    print(f"blocking recall {report['blocking_recall']}  recall end to end {report['recall_end_to_end']}")
    print(f"pairs: tp {cm['true_positive']} fp {cm['false_positive']} fn {cm['false_negative']} "
          f"tn {cm['true_negative']}  ({report['labels']['labeled_pairs']} labeled pairs)")
    print("column importance: " + ", ".join(f"{k} {v}" for k, v in report["column_importance"].items()))
    print(f"when to stop labeling: {report['stop_advice']['sentence']}")
    return 0


def _decision(matcher: Matcher, args: argparse.Namespace) -> Decision:
    """The run's decisions: the fitted (or saved) settings' own, with the ones given on the command line."""
    given = {"precision_recall_tradeoff": args.precision_recall, "one_to_one": args.one_to_one,
             "enforce_labels": True if args.enforce_labels else None}
    return replace(matcher.default_decision, **{k: v for k, v in given.items() if v is not None})


def apply_saved_model(args: argparse.Namespace) -> Matcher:
    """``--model``: the saved model applied to the data file, nothing fitted."""
    for flag, value in (("--labels", args.labels), ("--settings", args.settings),
                        ("--accuracy-cost", args.accuracy_cost), ("--save-model", args.save_model)):
        if value is not None:
            raise SettingsError(f"{flag} cannot be used with --model: the saved model was fitted with its own")
    model = load_model(args.model)
    settings = model.settings
    for flag, given, saved in (("--primary-key", args.primary_key, settings.primary_key),
                               ("--source-column", args.source_column, settings.source_column)):
        if given != saved:
            raise SettingsError(f"the model was fitted with {flag} {saved!r}, not {given!r}")
    records = read_table(args.data, settings.primary_key, settings.source_column)
    model.require_columns(records.columns)
    return Matcher.from_model(model, records, progress=None if args.quiet else StderrBar(),
                              keep_index=bool(args.store))


def run_match(args: argparse.Namespace) -> int:
    matcher = apply_saved_model(args) if args.model else fit_matcher(args)
    if args.save_model:
        save_model(matcher, args.save_model)
    decision = _decision(matcher, args)
    result = matcher.predict(decision)
    if args.store:
        result = _into_store(matcher, result, decision, args)
    elif args.changes:
        raise SettingsError("--changes needs --store: changes are counted against a store")
    write_table(result.records, args.output)
    if args.pairs_output:
        write_table(matcher.explain_pairs(args.pairs_min_probability), args.pairs_output)
    if args.stats_output:
        Path(args.stats_output).write_text(json.dumps(result.stats, indent=2), encoding="utf-8")
    if args.write_settings:
        Path(args.write_settings).write_text(matcher.settings_.to_json(), encoding="utf-8")
    s = result.stats
    if not args.quiet:
        recall = f", blocking recall {s['blocking_recall']:.4f} of labeled matches" if s["blocking_recall"] else ""
        print(f"{s['records']} records, {s['candidate_pairs']} candidate pairs{recall}, {s['clusters']} clusters "
              f"({s['records_in_clusters']} records) -> {args.output}", file=sys.stderr)
        if matcher.table_.source is not None:
            print(s["one_to_one_reason"], file=sys.stderr)
        if s["group_keys"]:
            named = ", ".join(f"{g['rule']} ({g['different_identities']:.0%} of {g['pairs_judged']:,} pairs)"
                              for g in s["group_keys"][:GROUP_KEYS_SHOWN])
            more = len(s["group_keys"]) - GROUP_KEYS_SHOWN
            named += f" and {more} more (--stats-output group_keys)" if more > 0 else ""
            print(f"group keys (their blocks mostly hold different identities): {named}", file=sys.stderr)
    if s["cold_start_warning"]:
        print(f"matcher: warning: {s['cold_start_warning']}", file=sys.stderr)
    return 0


def _into_store(matcher: Matcher, result: MatchResult, decision: Decision, args: argparse.Namespace) -> MatchResult:
    """``--store``: the run's clusters written to the store, their ids reconciled with its entities."""
    store = EntityStore(args.store)
    with store.writing():
        previous = store.read() if store.exists() else None
        outcome = store_from_fit(matcher, result, decision, previous)
        version = store.publish(outcome.contents)
    if args.changes:
        write_table(outcome.changes, args.changes)
    if not args.quiet:
        print(f"entity store {args.store} version {version}: {len(outcome.contents.records)} records", file=sys.stderr)
    return MatchResult(outcome.records, {**result.stats, "store_version": version})


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"matcher: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return int(args.run(args))
    except MatcherError as exc:
        print(f"{chr(10) if StderrBar.mid_line else ''}matcher: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("matcher: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
