"""The ``matcher`` verbs that keep an entity store up to date (``matcher.entity_store``, ``matcher.incremental``):
``match-incremental``, ``entities`` and ``forget``; ``match --store`` is in ``matcher.cli``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from matcher.decision import Decision
from matcher.entity_store import EntityStore, StoreContents
from matcher.incremental import Outcome, forget, match_batch
from matcher.io import read_raw_table, read_table, write_table
from matcher.model_file import load_model
from matcher.settings import read_json_object
from matcher.survivorship import golden_records, rules_for


def add_store_verbs(verbs: Any, unit_interval: Any) -> None:
    inc = verbs.add_parser("match-incremental",
                           help="match a new batch against an entity store; ids of untouched entities never change")
    inc.add_argument("data", help="the batch: CSV or Parquet with the store's columns (a stored key = an update)")
    inc.add_argument("--store", required=True, help="entity store directory (made by `match ... --store DIR`)")
    inc.add_argument("--output", required=True, help="the batch's rows with match_id and match_confidence_score")
    inc.add_argument("--changes", help="entity changelog: match_id, change, related_ids, records_before/after")
    inc.add_argument("--record-changes", help="per record whose id changed: key, old_match_id, new_match_id")
    inc.add_argument("--precision-recall", type=unit_interval,
                     help="decision threshold, 0..1 (default: the decision that made the store)")
    inc.add_argument("--enforce-labels", action=argparse.BooleanOptionalAction, default=None,
                     help="labeled pairs constrain the clusters (default: as the store was made)")
    inc.add_argument("--one-to-one", action=argparse.BooleanOptionalAction, default=None,
                     help="linkage: each record links to at most one other (default: as the store was made)")
    inc.add_argument("--stats-output", help="write the run's statistics as JSON")
    inc.add_argument("--quiet", action="store_true", help="no summary line")
    inc.set_defaults(run=run_match_incremental)

    ent = verbs.add_parser("entities", help="one golden record per entity (or every record with its match_id)")
    ent.add_argument("--store", required=True, help="entity store directory")
    ent.add_argument("--output", required=True, help="CSV or Parquet: per entity match_id, records, and per column "
                                                     "the surviving value and <column>__from (its record's key)")
    ent.add_argument("--records", action="store_true",
                     help="write every stored record with its match_id and match_confidence_score instead")
    ent.add_argument("--survivorship", metavar="RULES.json",
                     help="per column rules for the golden record, e.g. {\"email\": {\"rule\": \"most_recent\", "
                          "\"date_column\": \"updated\"}} (default: the settings' survivorship, else by type)")
    ent.set_defaults(run=run_entities)

    fgt = verbs.add_parser("forget", help="erase records from an entity store; their entities are re-clustered")
    fgt.add_argument("keys", help="CSV or Parquet with one column named like the store's primary key")
    fgt.add_argument("--store", required=True, help="entity store directory")
    fgt.add_argument("--changes", help="entity changelog of the erasure (REMOVED, SPLIT, SHRANK)")
    fgt.add_argument("--quiet", action="store_true", help="no summary line")
    fgt.set_defaults(run=run_forget)


def _decision(store: StoreContents, args: argparse.Namespace) -> Decision:
    given = {"precision_recall_tradeoff": args.precision_recall, "enforce_labels": args.enforce_labels,
             "one_to_one": args.one_to_one}
    return replace(Decision(**store.decision), **{k: v for k, v in given.items() if v is not None})


def run_match_incremental(args: argparse.Namespace) -> int:
    store = EntityStore(args.store)
    with store.writing():  # two runs on one store queue here, each reading the version the other published
        current = store.read()
        batch = read_table(args.data, current.primary_key, current.source_column)
        outcome = match_batch(current, batch, _decision(current, args))
        version = store.publish(outcome.contents)
    _write_outcome(outcome, args, version)
    write_table(outcome.records, args.output)
    if not args.quiet:
        s = outcome.stats
        print(f"{s['batch_records']} records ({s['updated_records']} updates), {s['touched_entities']} stored "
              f"entities touched, {_summary(outcome.changes)} -> {args.output}; store version {version}: "
              f"{s['store_records']} records, {s['store_entities']} entities", file=sys.stderr)
    return 0


def run_entities(args: argparse.Namespace) -> int:
    contents = EntityStore(args.store).read()
    if args.records:
        out = contents.records.copy()
        out["match_id"] = contents.ids
        out["match_confidence_score"] = contents.scores
    else:
        settings = load_model(contents.model).settings
        if args.survivorship:
            settings = replace(settings, survivorship=read_json_object(args.survivorship, "survivorship rules"))
        rules = rules_for(settings, contents.columns)
        out = golden_records(contents.records, contents.ids, contents.primary_key, rules)
    write_table(out, args.output)
    return 0


def run_forget(args: argparse.Namespace) -> int:
    store = EntityStore(args.store)
    with store.writing():
        current = store.read()
        key = current.primary_key
        raw = read_raw_table(args.keys)
        raw.require_column(key, "column named like the store's primary key")
        outcome = forget(current, raw.frame[key].dropna())
        version = store.publish(outcome.contents, keep=1)  # earlier versions hold the erased values
    _write_outcome(outcome, args, version)
    if not args.quiet:
        print(f"{outcome.stats['erased_records']} records erased, {_summary(outcome.changes)}; store version "
              f"{version} (earlier versions deleted)", file=sys.stderr)
    return 0


def _write_outcome(outcome: Outcome, args: argparse.Namespace, version: int) -> None:
    if getattr(args, "changes", None):
        write_table(outcome.changes, args.changes)
    if getattr(args, "record_changes", None):
        write_table(outcome.record_changes, args.record_changes)
    if getattr(args, "stats_output", None):
        stats = {**outcome.stats, "store_version": version,
                 "changes": outcome.changes["change"].value_counts().to_dict()}
        Path(args.stats_output).write_text(json.dumps(stats, indent=2, default=str), encoding="utf-8")


def _summary(changes: pd.DataFrame) -> str:
    counts = changes["change"].value_counts()
    return ", ".join(f"{n} {change}" for change, n in counts.items()) or "no entity changed"
