"""The labeling loop's final model output for ``bench/false_pairs.py``: run the rounds, write what the last model finds.

Usage::

    python bench/rounds_output.py BENCH_DIR OUT_DIR [--rounds 5] [--sets 10] [--set-size 10] [--seed 0]
    python bench/false_pairs.py OUT_DIR/matches.csv BENCH_DIR --pairs OUT_DIR/pairs.csv --threshold T

Runs ``labeling_rounds.run`` (active sets, simulated labeler from truth.csv) and, after the last round, writes
``matches.csv`` (every record with its ``match_id``), ``pairs.csv`` (every scored candidate pair with per-column
contributions, probability >= 0), ``labels.csv`` (the simulated answers) and ``rounds.json`` (F1 and the linking
threshold by round: pass the last one to ``false_pairs.py --threshold``), so the misses left after labeling can be
read pair by pair.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from labeling_rounds import run  # noqa: E402

from matcher.io import write_table  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench")
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sets", type=int, default=10)
    parser.add_argument("--set-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    final: list[Matcher] = []
    rows = run(args.bench, args.rounds, args.sets, args.set_size, "active", False, args.seed,
               after_round=lambda m: final.append(m) or {"threshold": round(float(m.threshold), 4)})
    matcher = final[-1]
    write_table(matcher.predict().records, args.out / "matches.csv")
    write_table(matcher.explain_pairs(0.0), args.out / "pairs.csv")
    if matcher.labels_ is not None:
        write_table(matcher.labels_.rows, args.out / "labels.csv")
    (args.out / "rounds.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
