"""EVALUATION on the demo dataset (examples/people, 2,000 records) after one labeling round of 120 records.

Usage::

    python bench/evaluation_speed.py [--repeat 3] [--before REV] [--profile FILE]

What the user does after a labeling round, through the service layer in this process (the worker's
``services.engine.execute``, without a broker): upload the demo records, create a transform, generate one
round of labeling sets (10 sets of 12 records, the default: this fits and caches the matcher, as in the
product), answer them from ``truth.csv`` and import the labels; then run EVALUATION ``--repeat`` times and
report each run's wall and CPU time (claim to SUCCEEDED) and the metrics it published; then one FIND_MATCHES
run, its time and a digest of matches.csv (it shares the refit with EVALUATION: its output must not change).

``--before REV`` first runs the same measurement on the code of git revision REV (extracted with
``git archive`` into a temporary directory, first on the child's PYTHONPATH), so one command gives before
and after on the same machine minutes apart. ``--profile FILE`` writes a cProfile of the last EVALUATION.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ROOT / "examples" / "people"
METRICS = ("model", "threshold", "precision", "recall", "f1", "area_under_pr_curve", "blocking_recall")


def measure(repeat: int, profile: Path | None) -> dict[str, object]:
    import pandas as pd
    from labeling_rounds import label_from_truth

    import matcher
    from services import datasets, engine, labels, task_runs, users
    from services.config import Config
    from services.transforms import create_transform
    from storage import migrate
    from storage.artifacts import ArtifactStore
    from storage.db import Database
    from storage.run_status import RunStatus

    def execute(run_id: str) -> tuple[float, float]:
        """The run's wall and CPU seconds (CPU of every thread of this process: OpenMP threads waiting for
        work burn it too, so it shows what the run costs a busy machine)."""
        start, cpu = time.perf_counter(), time.process_time()
        status = engine.execute(db, store, run_id)
        if status != RunStatus.SUCCEEDED:
            raise SystemExit(f"run {run_id} ended {status}: {task_runs.get_run(db, run_id).error_message}")
        return round(time.perf_counter() - start, 2), round(time.process_time() - cpu, 2)

    def in_process(_config: Config, run_id: str) -> str:
        return f"in-process-{run_id}"  # executed right after, in this process

    with tempfile.TemporaryDirectory(prefix="evaluation-bench-") as root:
        config = Config.from_env(root)
        config.ensure_dirs()
        migrate.upgrade(config.database_url)
        db, store = Database(config.database_url), ArtifactStore(config.data_dir)
        user, _ = users.create_user(db, "bench", "admin")
        with open(DEMO / "records.csv", "rb") as handle:
            dataset = datasets.create_from_upload(config, db, "records.csv", handle, user_id=user.id)
        transform = create_transform(config, db, {"name": "people", "dataset_id": dataset.id, "primary_key": "id"},
                                     user.id).transform
        sets = task_runs.start_run(config, db, transform.id, "LABELING_SET_GENERATION", {}, user.id, in_process)
        execute(sets.id)
        truth = pd.read_csv(DEMO / "truth.csv", dtype=str).set_index("id")["entity_id"]
        sets_file = pd.read_csv(config.data_dir / task_runs.get_run(db, sets.id).output, dtype=str)
        answered = label_from_truth(sets_file, truth, "id")
        with tempfile.NamedTemporaryFile("wb", suffix=".csv") as handle:
            answered.to_csv(handle, index=False)
            handle.flush()
            with open(handle.name, "rb") as stream:
                run = labels.start_import(config, db, transform.id, "labels.csv", stream, False, user.id, in_process)
        execute(run.id)
        seconds, cpu_seconds, report = [], [], {}
        for i in range(repeat):
            run = task_runs.start_run(config, db, transform.id, "EVALUATION", {}, user.id, in_process)
            profiler = cProfile.Profile() if profile is not None and i == repeat - 1 else None
            if profiler is not None:
                profiler.enable()
            wall, cpu = execute(run.id)
            seconds.append(wall)
            cpu_seconds.append(cpu)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
            report = json.loads((config.data_dir / task_runs.get_run(db, run.id).output).read_text())
        run = task_runs.start_run(config, db, transform.id, "FIND_MATCHES", {}, user.id, in_process)
        find_matches = execute(run.id)  # shares the refit: its output must not change with this work
        matches = hashlib.sha256((config.data_dir / task_runs.get_run(db, run.id).output).read_bytes())
    return {"code": str(Path(matcher.__file__).parent.parent), "load_average": os.getloadavg()[0],
            "labeled_records": len(answered),
            "labeled_pairs": report["labels"]["labeled_pairs"], "seconds": seconds, "cpu_seconds": cpu_seconds,
            "metrics": {k: report.get(k) for k in METRICS}, "column_importance": report["column_importance"],
            "find_matches_seconds": list(find_matches), "matches_csv_sha256": matches.hexdigest()[:16]}


def before(rev: str, repeat: int) -> dict[str, object]:
    """The same measurement on the code of ``rev``, in a child process (modules cannot be reloaded in place)."""
    with tempfile.TemporaryDirectory(prefix="evaluation-before-") as code:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", code], input=archive, check=True)
        env = dict(os.environ, PYTHONPATH=code)
        out = subprocess.run([sys.executable, str(HERE / "evaluation_speed.py"), "--repeat", str(repeat), "--json"],
                             env=env, check=True, capture_output=True, text=True, cwd=code).stdout
    return {"rev": rev, **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="measure git revision REV first, in a child process")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last EVALUATION run here")
    parser.add_argument("--json", action="store_true", help="print one JSON line only (for --before)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.json:
        print(json.dumps(measure(args.repeat, None)))
        return
    results = [before(args.before, args.repeat)] if args.before else []
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    results.append({"rev": f"{head.stdout.strip()} (working tree)", **measure(args.repeat, args.profile)})
    for result in results:
        print(json.dumps(result))
    print("\n| code | EVALUATION wall s (each run) | CPU s (each run) | F1 | precision | recall | AUPR "
          "| FIND_MATCHES wall, CPU s | matches.csv sha256 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        m: dict = r["metrics"]  # type: ignore[assignment]
        print(f"| {r['rev']} | {r['seconds']} | {r['cpu_seconds']} | {m['f1']} | {m['precision']} | {m['recall']} | "
              f"{m['area_under_pr_curve']} | {r['find_matches_seconds']} | {r['matches_csv_sha256']} |")


if __name__ == "__main__":
    main()
