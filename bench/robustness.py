"""Robustness table: matcher with no settings, matcher after labeling rounds, and Splink ``--profile auto``.

Usage::

    python bench/robustness.py [--datasets febrl3,cora] [--extra DIR]... [--rounds 5] [--skip-rounds]
                               [--skip-splink] [--timeout SECONDS]

For every bench folder (default: each ``../shared/datasets/*/bench``, plus each ``--extra DIR`` holding
records.csv, truth.csv and meta.json, e.g. a bench/synth.py output) it runs, in the same run and each in a child
process whose wall time (interpreter start, imports, loading and scoring included) and peak RSS (``wait4``
maxrss) are measured here:

1. matcher with no settings and no labels, the in-process equivalent of ``matcher match`` (read the CSV, fit,
   predict, write the clusters to a CSV), never ``--one-to-one``;
2. matcher after ``--rounds`` labeling rounds of 10 active-learning sets of 10 records answered from truth.csv
   (``labeling_rounds.run``; at most 500 labeled records for 5 rounds), F1 after each round;
3. Splink 5 unsupervised, ``bench/.venv-splink/bin/python bench/splink_run.py DIR --profile auto`` (create the
   venv with ``bash bench/setup_splink.sh``).

A child that fails or outlives ``--timeout`` is reported as such and the run goes on. Prints one Markdown table
(also written to ``bench/results/robustness.md``) and writes every figure to ``bench/results/robustness.json``,
with the commit measured and the files under matcher/ with uncommitted edits at the start and end of the run
(both files are overwritten by each run).
Pairwise scores are those of bench/score.py (linkage: cross-source pairs only).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATASETS = HERE.parents[1] / "shared" / "datasets"
SPLINK_PYTHON = HERE / ".venv-splink" / "bin" / "python"


def _f(x: float) -> float:
    return round(float(x), 4)


def child_matcher(bench: Path) -> None:
    """Child: ``matcher match`` with no settings and no labels; prints one JSON line."""
    import pandas as pd
    from score import pairwise_scores

    from matcher.io import read_table, write_table
    from matcher.pipeline import Matcher
    from matcher.settings import Settings

    meta = json.loads((bench / "meta.json").read_text())
    pk, src = meta["primary_key"], meta.get("source_column")
    start = time.perf_counter()
    records = read_table(bench / "records.csv", pk, src)
    result = Matcher(Settings(primary_key=pk, source_column=src)).fit(records).predict()
    with tempfile.TemporaryDirectory() as tmp:
        write_table(result.records, Path(tmp) / "matches.csv")
    seconds = time.perf_counter() - start
    truth = pd.read_csv(bench / "truth.csv", dtype=str, keep_default_na=False)
    source = pd.Series(records[src].to_numpy(), index=records[pk].to_numpy()) if src else None
    score = pairwise_scores(result.records[[pk, "match_id"]].rename(columns={pk: "id"}), truth, source)
    print(json.dumps({"fit_predict_write_seconds": round(seconds, 2), "records": len(records),
                      "candidate_pairs": result.stats.get("candidate_pairs"),
                      **{k: _f(score[k]) for k in ("precision", "recall", "f1")}}), flush=True)


def child_rounds(bench: Path, rounds: int) -> None:
    """Child: labeling_rounds.run (active sets, simulated labeler); it prints one JSON line per round."""
    from labeling_rounds import run

    run(str(bench), rounds, 10, 10, "active", False)


def measure(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd`` in its own process group; wall seconds, peak RSS (MB), status and its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, start_new_session=True)
        status, rusage, rc = "ok", None, None
        while rusage is None:
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                rusage, rc = usage, os.waitstatus_to_exitcode(code)
            elif time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
                status = f"timeout after {timeout:.0f}s"
                _, code, rusage = os.wait4(proc.pid, 0)
            else:
                time.sleep(0.2)
        proc.returncode = rc
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if status == "ok" and rc != 0:
        last = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or [""]
        status = f"failed (exit {rc}): {last[0][:200]}"
    return {"status": status, "seconds": round(seconds, 2), "peak_rss_mb": round(rusage.ru_maxrss / 1024),
            "stdout": stdout, "stderr_tail": stderr[-2000:] if status != "ok" else ""}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and line.endswith("}")]


def run_matcher(bench: Path, timeout: float) -> dict:
    got = measure([sys.executable, __file__, "--child-matcher", str(bench)], timeout)
    lines = _json_lines(got.pop("stdout"))
    return got | (lines[-1] if got["status"] == "ok" and lines else {})


def run_rounds(bench: Path, rounds: int, timeout: float) -> dict:
    got = measure([sys.executable, __file__, "--child-rounds", str(bench), "--rounds", str(rounds)], timeout)
    by_round = [{k: r[k] for k in ("round", "labeled_records", "precision", "recall", "f1")}
                for r in _json_lines(got.pop("stdout"))]
    got["rounds"] = by_round  # kept even after a timeout: the rounds that finished
    if by_round and by_round[-1]["round"] == rounds:
        got |= {k: by_round[-1][k] for k in ("labeled_records", "precision", "recall", "f1")}
    elif got["status"] == "ok":
        got["status"] = "failed: fewer rounds than asked"
    return got


def run_splink(bench: Path, name: str, timeout: float) -> dict:
    if not SPLINK_PYTHON.exists():
        return {"status": "failed: no Splink venv (bash bench/setup_splink.sh)"}
    with tempfile.TemporaryDirectory() as tmp:
        got = measure([str(SPLINK_PYTHON), str(HERE / "splink_run.py"), str(bench), "--profile", "auto",
                       "--out", str(Path(tmp) / f"splink_{name}.csv")], timeout)
    text = got.pop("stdout")
    if got["status"] != "ok":
        return got
    try:
        raw = json.loads(text[text.index("{"):])
    except ValueError:
        return got | {"status": "failed: no JSON on stdout"}
    return got | {k: _f(raw["scores"][k]) for k in ("precision", "recall", "f1")} | {
        "splink_seconds": raw["seconds"], "auto": raw.get("auto"), "fallbacks": raw.get("fallbacks", [])}


def describe(bench: Path) -> dict:
    meta = json.loads((bench / "meta.json").read_text())
    folder = bench.resolve()
    name = folder.parent.name if folder.name == "bench" else folder.name
    records = meta.get("n_records")
    if records is None:
        with open(bench / "records.csv", "rb") as handle:
            records = sum(1 for _ in handle) - 1
    task = meta.get("task") or ("link" if meta.get("source_column") else "dedup")
    return {"dataset": name, "path": str(bench), "records": records, "task": task}


def _cell(result: dict | None, what: str) -> str:
    if result is None:
        return "skipped"
    if what == "cost" and "peak_rss_mb" in result:
        return f"{result['seconds']} s, {result['peak_rss_mb']} MB"
    if result.get("status") != "ok":
        return result.get("status", "?").split(":")[0]
    if what == "prf":
        return f"{result['f1']:.3f} ({result['precision']:.3f}/{result['recall']:.3f})"
    return "-"


def table(rows: list[dict]) -> str:
    head = ["dataset", "records", "task", "matcher F1 (P/R), no labels", "matcher time, RSS",
            "matcher F1 by round", "labeled records", "matcher rounds time, RSS", "Splink auto F1 (P/R)",
            "Splink time, RSS", "Splink fallbacks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        m, r, s = row.get("matcher"), row.get("rounds"), row.get("splink")
        by_round = " → ".join(f"{x['f1']:.3f}" for x in r["rounds"]) if r and r.get("rounds") else _cell(r, "")
        if r and r.get("status") != "ok" and r.get("rounds"):
            by_round += f" ({r['status'].split(':')[0]})"
        labeled = r.get("labeled_records", "-") if r else "-"
        fallbacks = len(s.get("fallbacks", [])) if s and s.get("status") == "ok" else "-"
        cells = [row["dataset"], row["records"], row["task"], _cell(m, "prf"), _cell(m, "cost"), by_round,
                 labeled, _cell(r, "cost"), _cell(s, "prf"), _cell(s, "cost"), fallbacks]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def code_version() -> dict:
    """The commit measured and the engine files with uncommitted edits (read-only git calls)."""
    def git(*cmd: str) -> str:
        out = subprocess.run(["git", *cmd], cwd=HERE.parent, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted": git("diff", "--name-only", "HEAD", "--", "matcher").split()}


def bench_dirs(args: argparse.Namespace) -> list[Path]:
    if args.datasets:
        names = [n.strip() for n in args.datasets.split(",") if n.strip()]
        dirs = [Path(n) if (Path(n) / "meta.json").exists() else DATASETS / n / "bench" for n in names]
    else:
        dirs = sorted(p.parent for p in DATASETS.glob("*/bench/meta.json"))
    dirs += [Path(d) for d in args.extra]
    missing = [str(d) for d in dirs if not (d / "meta.json").exists()]
    if missing:
        raise SystemExit(f"not a bench folder (no meta.json): {', '.join(missing)}")
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", help="comma-separated names under ../shared/datasets (or bench paths)")
    parser.add_argument("--extra", action="append", default=[], metavar="DIR", help="another bench folder")
    parser.add_argument("--rounds", type=int, default=5, help="labeling rounds (10 sets of 10 records each)")
    parser.add_argument("--skip-rounds", action="store_true")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
    parser.add_argument("--child-matcher", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-rounds", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_matcher:
        return child_matcher(args.child_matcher)
    if args.child_rounds:
        return child_rounds(args.child_rounds, args.rounds)
    rows, code = [], {"at_start": code_version()}
    for bench in bench_dirs(args):
        row = describe(bench)
        print(f"{row['dataset']} ({row['records']} records): matcher", file=sys.stderr, flush=True)
        row["matcher"] = run_matcher(bench, args.timeout)
        if not args.skip_rounds:
            print(f"{row['dataset']}: {args.rounds} labeling rounds", file=sys.stderr, flush=True)
            row["rounds"] = run_rounds(bench, args.rounds, args.timeout)
        if not args.skip_splink:
            print(f"{row['dataset']}: Splink --profile auto", file=sys.stderr, flush=True)
            row["splink"] = run_splink(bench, row["dataset"], args.timeout)
        rows.append(row)
    text = table(rows)
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "robustness.md").write_text(text + "\n")
    code["at_end"] = code_version()
    (HERE / "results" / "robustness.json").write_text(json.dumps({"code": code, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
