"""Group keys judged against the truth: for every blocking rule used, the share of its candidate pairs the
matcher judges different identities (``matcher.group_keys``) beside the share that truly are, and which rules are
named at several values of ``GROUP_SHARE``.

Usage::

    python bench/group_keys.py BENCH_DIR [BENCH_DIR ...] [--shares 0.4,0.5,0.6] [--json OUT.json]

Each BENCH_DIR holds records.csv, truth.csv and meta.json (``../shared/datasets/*/bench``, a bench/synth.py or
bench/synth_kin.py output). The matcher is fitted with no settings and no labels, as ``matcher match`` reads the
file; one Markdown row per dataset on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.group_keys import judge_rules
from matcher.io import read_table
from matcher.pipeline import Matcher
from matcher.settings import Settings


def judged(bench: Path, lowest: float) -> dict:
    """The fit's used rules judged different above ``lowest``, with the truly different share of each."""
    meta = json.loads((bench / "meta.json").read_text())
    pk, src = meta["primary_key"], meta.get("source_column")
    records = read_table(bench / "records.csv", pk, src)
    truth = pd.read_csv(bench / "truth.csv", dtype=str, keep_default_na=False)
    entity_of = dict(zip(truth["id"].astype(str), truth["entity_id"].astype(str), strict=True))
    keys = records[pk].astype(str)
    entity = pd.factorize(keys.map(entity_of).fillna("~" + keys))[0]
    matcher = Matcher(Settings(primary_key=pk, source_column=src)).fit(records)
    start = time.perf_counter()
    found = judge_rules(matcher.table_, matcher.blocker_.rules_, matcher.candidates_, matcher.fs_, share=lowest)
    seconds = time.perf_counter() - start
    left, right, table = matcher.candidates_.left, matcher.candidates_.right, matcher.table_
    rows = []
    for group in found:
        inside = np.logical_and.reduce([(table.keys[k][left] == table.keys[k][right]) & (table.keys[k][left] >= 0)
                                        for k in group.rule])
        truly = float((entity[left[inside]] != entity[right[inside]]).mean())
        rows.append({"rule": " & ".join(group.rule), "pairs": group.pairs,
                     "judged_different": round(group.different_share, 3), "truly_different": round(truly, 3)})
    return {"used_rules": sum(r.used for r in matcher.blocker_.rules_), "judge_seconds": round(seconds, 3),
            "rows": rows}


def row(name: str, got: dict, shares: list[float], middle: float) -> str:
    named = [r for r in got["rows"] if r["judged_different"] > middle]
    wrong = [r for r in named if r["truly_different"] <= 0.5]
    counts = " / ".join(str(sum(r["judged_different"] > s for r in got["rows"])) for s in shares)
    shown = ", ".join(f"{r['rule']} {r['judged_different']:.2f}/{r['truly_different']:.2f}" for r in named[:5])
    shown += f", +{len(named) - 5} more" if len(named) > 5 else ""
    misjudged = "; ".join(f"{r['rule']} {r['judged_different']:.2f}/{r['truly_different']:.2f}" for r in wrong)
    return (f"| {name} | {got['used_rules']} | {counts} | {shown or '-'} | {misjudged or 'none'} | "
            f"{got['judge_seconds']} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", nargs="+", type=Path)
    parser.add_argument("--shares", default="0.4,0.5,0.6", help="GROUP_SHARE values, comma-separated")
    parser.add_argument("--json", type=Path, help="also write every rule's figures here")
    args = parser.parse_args()
    shares = sorted(float(s) for s in args.shares.split(","))
    middle = shares[len(shares) // 2]
    print(f"| dataset | used rules | named at {' / '.join(map(str, shares))} | named at {middle} (judged / truly "
          f"different) | named at {middle} but truly mostly the same identity | judging time |")
    print("|---|---|---|---|---|---|")
    everything = {}
    for bench in args.bench:
        name = bench.parent.name if bench.name == "bench" else bench.name
        everything[name] = judged(bench, shares[0])
        print(row(name, everything[name], shares, middle), flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")


if __name__ == "__main__":
    main()
