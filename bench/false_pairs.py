"""Which record pairs a run gets wrong, and on what evidence: a diagnostic for precision and recall misses.

Usage::

    python -m matcher match DATA --primary-key ID --output OUT.csv --pairs-output PAIRS.csv \\
        --pairs-min-probability 0
    python bench/false_pairs.py OUT.csv BENCH_DIR [--pairs PAIRS.csv] [--kind fp|fn|both] [--show 30]

A false positive is a pair the output puts in one cluster (same ``match_id``) although the truth has two
entities; a false negative, a true pair the output splits. Pairs are counted as ``bench/score.py`` counts
them (linkage, i.e. ``source_column`` in meta.json: cross-source pairs only), so the totals printed here are
its ``fp`` and ``fn``. For each kind it prints a summary, then the pairs, most probable first:

* how many of the wrong pairs the model scored itself (a row in ``--pairs-output``) and how many it never
  did: a false positive never scored was joined by transitivity through other pairs of its cluster; a false
  negative never scored was not a candidate (blocking) or fell below ``--pairs-min-probability``;
* how many scored ones sit on each side of 0.5: a false positive scored below 0.5, or a false negative scored
  above it, is the clustering's doing (average linkage), not the model's;
* per column, how many wrong pairs hold the same non-empty raw text on both sides (before normalisation:
  '404/659-0400' and '404-659-0400' differ here, not for the model);
* each pair: its probability, every column's contribution (bits) and both records' values ('=' marks equal).

With ``--pairs`` holding every scored candidate (``--pairs-min-probability 0``; ``bench/rounds_output.py`` writes
it so), ``fn_stages`` says where each false negative was lost, first stage first: ``blocking`` (no chain of true
candidate pairs joins its records, so nothing downstream could), ``scoring`` (a chain exists, but none whose
pairs all score >= ``--threshold``, the run's linking threshold), ``clustering`` (such a chain exists and the
clustering still split them).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from pathlib import Path

import pandas as pd

Pair = tuple[str, str]


def pairs_within(groups: pd.Series) -> set[Pair]:
    """Unordered pairs (as sorted id tuples) of the index values that share a value of ``groups``."""
    out: set[Pair] = set()
    for _, ids in groups.groupby(groups, sort=False):
        out.update(itertools.combinations(sorted(ids.index.astype(str)), 2))
    return out


def wrong_pairs(match_id: pd.Series, entity_id: pd.Series, source: pd.Series | None = None
                ) -> tuple[set[Pair], set[Pair]]:
    """(false positives, false negatives) of a clustering ``match_id`` against ``entity_id`` (both indexed
    by record id as str). With ``source`` (linkage), pairs within one source do not count."""
    predicted = pairs_within(match_id.dropna())
    true = pairs_within(entity_id.dropna())
    fp, fn = predicted - true, true - predicted
    if source is not None:
        fp = {p for p in fp if source[p[0]] != source[p[1]]}
        fn = {p for p in fn if source[p[0]] != source[p[1]]}
    return fp, fn


def scored_pairs(path: Path | None) -> tuple[dict[Pair, dict], list[str]]:
    """The ``--pairs-output`` rows by sorted id pair, and its contribution columns."""
    if path is None:
        return {}, []
    pairs = pd.read_csv(path, dtype={"key_a": str, "key_b": str})
    columns = [c for c in pairs.columns if c.endswith("_contribution")]
    rows = {}
    for row in pairs.to_dict("records"):
        a, b = row["key_a"], row["key_b"]
        rows[(a, b) if a < b else (b, a)] = row
    return rows, columns


def summary(found: set[Pair], records: pd.DataFrame, scored: dict[Pair, dict]) -> dict:
    """Counts behind one kind of wrong pair (see the module docstring)."""
    direct = [p for p in found if p in scored]
    above = sum(scored[p]["match_probability"] >= 0.5 for p in direct)
    equal = Counter(col for a, b in found for col in records.columns
                    if records.at[a, col] != "" and records.at[a, col] == records.at[b, col])
    return {"pairs": len(found), "scored": len(direct), "not_scored": len(found) - len(direct),
            "scored_at_or_above_0.5": above, "scored_below_0.5": len(direct) - above,
            "equal_values": dict(equal.most_common())}


def _components(nodes: list[str], edges: list[Pair]) -> dict[str, str]:
    parent = {v: v for v in nodes}

    def find(v: str) -> str:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for a, b in edges:
        parent[find(a)] = find(b)
    return {v: find(v) for v in nodes}


def fn_stages(fn: set[Pair], entity: pd.Series, scored: dict[Pair, dict], threshold: float) -> dict[str, int]:
    """How many false negatives each stage lost (module docstring); ``entity``: the true entity by record id."""
    true = [p for p in scored if entity.get(p[0]) is not None and entity.get(p[0]) == entity.get(p[1])]
    nodes = sorted({v for p in fn for v in p} | {v for p in true for v in p})
    reach = _components(nodes, true)
    strong = _components(nodes, [p for p in true if scored[p]["match_probability"] >= threshold])
    stages = Counter("blocking" if reach[a] != reach[b] else "scoring" if strong[a] != strong[b] else "clustering"
                     for a, b in fn)
    return {k: stages.get(k, 0) for k in ("blocking", "scoring", "clustering")}


def describe(pair: Pair, records: pd.DataFrame, scored: dict[Pair, dict], columns: list[str]) -> str:
    a, b = pair
    lines = [f"{a} | {b}"]
    row = scored.get(pair)
    if row is None:
        lines.append("   not scored")
    else:
        bits = ", ".join(f"{c.removesuffix('_contribution')} {row[c]:+.1f}" for c in columns)
        lines.append(f"   p={row['match_probability']:.3f}  {bits}")
    for col in records.columns:
        va, vb = records.at[a, col], records.at[b, col]
        mark = "=" if va != "" and va == vb else " "
        lines.append(f"   {mark} {col:>14}: {va!s:<40} | {vb!s}")
    return "\n".join(lines)


def load(output: Path, bench: Path) -> tuple[pd.DataFrame, set[Pair], set[Pair]]:
    """The records (indexed by id, values as text) and the run's false positives and negatives."""
    records, fp, fn, _ = load_with_truth(output, bench)
    return records, fp, fn


def load_with_truth(output: Path, bench: Path) -> tuple[pd.DataFrame, set[Pair], set[Pair], pd.Series]:
    """``load`` plus the true entity of each record id."""
    meta = json.loads((bench / "meta.json").read_text())
    pk, source_column = meta["primary_key"], meta.get("source_column")
    records = pd.read_csv(bench / "records.csv", dtype=str, keep_default_na=False)
    records = records.set_index(records.pop(pk).astype(str))
    truth = pd.read_csv(bench / "truth.csv", dtype=str)
    out = pd.read_csv(output, dtype=str, keep_default_na=False)
    match_id = out.set_index(out[pk].astype(str))["match_id"].replace("", None)
    source = records[source_column] if source_column else None
    entity = truth.set_index(truth["id"].astype(str))["entity_id"]
    fp, fn = wrong_pairs(match_id, entity, source)
    return records, fp, fn, entity


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="matcher's --output CSV")
    parser.add_argument("bench", type=Path, help="folder with records.csv, truth.csv, meta.json")
    parser.add_argument("--pairs", type=Path, help="matcher's --pairs-output CSV (contributions per column)")
    parser.add_argument("--kind", choices=["fp", "fn", "both"], default="both")
    parser.add_argument("--show", type=int, default=30, help="pairs printed per kind")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="the run's linking threshold, for the false negatives' stages (needs --pairs)")
    args = parser.parse_args(argv)
    records, fp, fn, entity = load_with_truth(args.output, args.bench)
    scored, columns = scored_pairs(args.pairs)
    for code, name, found in (("fp", "false positives", fp), ("fn", "false negatives", fn)):
        if args.kind not in ("both", code):
            continue
        counts = summary(found, records, scored)
        if code == "fn" and scored:
            counts["lost_at"] = fn_stages(found, entity, scored, args.threshold)
        print(f"== {name}: {json.dumps(counts)}")
        ranked = sorted(found, key=lambda p: (-scored[p]["match_probability"] if p in scored else 1.0, p))
        for pair in ranked[:args.show]:
            print(describe(pair, records, scored, columns))


if __name__ == "__main__":
    main()
