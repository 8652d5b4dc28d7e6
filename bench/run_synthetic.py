"""Synthetic people at scale: matcher vs Splink 5 on the same file, in the same run.

Usage::

    python bench/run_synthetic.py --rows 1000000 [--seed 42] [--label-rounds 5] [--skip-splink]

Generates ``bench/data/synth_<rows>_<seed>`` with ``bench/synth.py`` if missing, then runs, each in its own
process so that peak RSS is its own: (1) ``matcher`` unsupervised end to end (read CSV, fit, cluster, write
CSV), (2) the same matcher after ``--label-rounds`` rounds of 10 active-learning sets of 10 records answered
from truth (at most 500 labeled records), (3) Splink 5 (DuckDB) with its documented settings
(``bench/splink_run.py --profile person``; create its venv with ``bash bench/setup_splink.sh``).
Prints a Markdown table with ratios and writes ``bench/results/synthetic_<rows>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def ours(data: Path, rounds: int) -> None:
    """Child process: unsupervised run, then labeling rounds; prints one JSON line per result."""
    import pandas as pd
    from labeling_rounds import label_from_truth
    from score import pairwise_scores

    from matcher.active import choose_sets, labeling_file
    from matcher.io import read_table, write_table
    from matcher.labels import Labels, read_labels
    from matcher.pipeline import Matcher
    from matcher.settings import Settings

    start = time.perf_counter()
    records = read_table(data / "records.csv", "id")
    matcher = Matcher(Settings(primary_key="id")).fit(records)
    result = matcher.predict()
    write_table(result.records, data / "ours_matches.csv")
    seconds = time.perf_counter() - start
    truth = pd.read_csv(data / "truth.csv", dtype=str)
    score = pairwise_scores(result.records[["id", "match_id"]], truth, None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"system": "matcher", "labels": 0, "seconds": round(seconds, 1), "peak_rss_mb": round(rss),
                      "candidate_pairs": result.stats["candidate_pairs"], **_rounded(score)}), flush=True)
    labels, entity = Labels.empty(), truth.set_index("id")["entity_id"]
    start = time.perf_counter()
    for r in range(rounds):
        sets = choose_sets(matcher, 10, 10, labels.key_set(), seed=r)
        answered = label_from_truth(labeling_file(matcher, sets), entity, "id")
        matcher = matcher.refit_labels(labels := labels.append(read_labels(answered, "id")))
    result = matcher.predict()
    score = pairwise_scores(result.records[["id", "match_id"]], truth, None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"system": "matcher", "labels": len(labels.rows), "seconds_labeling_rounds":
                      round(time.perf_counter() - start, 1), "peak_rss_mb": round(rss), **_rounded(score)}))


def _rounded(score: dict) -> dict:
    return {k: round(score[k], 4) for k in ("precision", "recall", "f1")}


def _json_lines(cmd: list[str]) -> list[dict]:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    text = out.stdout.strip()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def splink(data: Path) -> dict:
    python = HERE / ".venv-splink" / "bin" / "python"
    if not python.exists():
        raise SystemExit("Splink venv missing: run bash bench/setup_splink.sh")
    raw = _json_lines([str(python), str(HERE / "splink_run.py"), str(data), "--profile", "person",
                       "--out", str(data / "splink_matches.csv")])[0]
    return {"system": "splink 5.0.0", "labels": 0, "seconds": raw["seconds"], "peak_rss_mb": round(raw["peak_rss_mb"]),
            **_rounded(raw["scores"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--label-rounds", type=int, default=5)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--ours", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        ours(args.ours, args.label_rounds)
        return
    data = HERE / "data" / f"synth_{args.rows}_{args.seed}"
    if not (data / "truth.csv").exists():
        subprocess.run([sys.executable, str(HERE / "synth.py"), "--rows", str(args.rows), "--seed", str(args.seed),
                        "--out", str(data)], check=True)
    rows = _json_lines([sys.executable, __file__, "--ours", str(data), "--label-rounds", str(args.label_rounds)])
    if not args.skip_splink:
        rows.append(splink(data))
    print("| system | labeled records | seconds | peak RSS MB | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        secs = r.get("seconds", f"+{r.get('seconds_labeling_rounds')} (rounds)")
        print(f"| {r['system']} | {r['labels']} | {secs} | {r['peak_rss_mb']} | {r['precision']} | {r['recall']} | "
              f"{r['f1']} |")
    if not args.skip_splink:
        base, other = rows[0], rows[-1]
        print(f"\nSplink / matcher: time x{other['seconds'] / base['seconds']:.2f}, peak RSS "
              f"x{other['peak_rss_mb'] / base['peak_rss_mb']:.2f}; F1 {base['f1']} vs {other['f1']}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"synthetic_{args.rows}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
