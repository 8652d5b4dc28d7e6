"""FIND_MATCHES on N synthetic records with 1 and with 2 worker processes (fan-out of candidate scoring).

Usage::

    python bench/fanout_workers.py --rows 1000000 [--broker redis://127.0.0.1:6379/14] [--partitions 8] [--repeat 2]

What a user's flow does, through the service layer and real ``matcher worker`` processes (prefork pool, one
task at a time each): upload the records, generate one round of 10 labeling sets (this fits and caches the
matcher, as the first labeling round does in the product), answer them from ``truth.csv`` and import the
labels; then, each time with fresh workers, run FIND_MATCHES with (a) one worker and fan-out off
(``MATCHER_FANOUT_PARTITIONS=1``), (b) one worker with fan-out, (c) two workers with fan-out. Reports the
run's wall time (enqueue to SUCCEEDED), the peak RSS of each worker's processes, the stage split and checks
that the three outputs are identical. Writes ``bench/results/fanout_<rows>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy import select

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from labeling_rounds import label_from_truth  # noqa: E402

from services import datasets, labels, task_runs, users  # noqa: E402
from services.config import Config  # noqa: E402
from services.transforms import create_transform  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import TaskRun, User  # noqa: E402
from storage.run_status import TERMINAL, RunStatus  # noqa: E402
from workers.dispatch import enqueue  # noqa: E402


class Bench:
    def __init__(self, data_dir: Path, broker: str) -> None:
        self.config = Config.from_env(data_dir, broker_url=broker, result_backend=f"db+sqlite:///{data_dir}/r.db")
        self.config.ensure_dirs()
        migrate.upgrade(self.config.database_url)
        self.db = Database(self.config.database_url)
        with self.db.session() as session:  # a prepared directory is reused (bench/profile_find_matches.py)
            self.user = session.scalars(select(User).where(User.name == "bench")).first()
        if self.user is None:
            self.user, _ = users.create_user(self.db, "bench", "admin")
        self.workers: list[subprocess.Popen[bytes]] = []

    def env(self, partitions: int) -> dict[str, str]:
        return dict(os.environ, MATCHER_DATA_DIR=str(self.config.data_dir), MATCHER_BROKER_URL=self.config.broker_url,
                    MATCHER_RESULT_BACKEND=self.config.result_backend, MATCHER_FANOUT_PARTITIONS=str(partitions),
                    PYTHONPATH=str(ROOT))

    def start_workers(self, count: int, partitions: int, pinned: bool = True, first_core: int = 0) -> None:
        """Each worker pinned to its own core when ``pinned``: a stand-in for one single-core host per worker (its
        OpenMP pools see one CPU); unpinned, one worker's boosted trees use every core of the machine. Cores are
        handed out from ``first_core`` on: the rounds rotate it, because this VM's two cores are not equally
        fast (the same partitions scored ~20% slower on core 0, which takes the interrupts, in some runs)."""
        command = [str(Path(sys.executable).with_name("matcher")), "worker", "--concurrency", "1", "--loglevel", "info"]
        cores = sorted(os.sched_getaffinity(0))
        for i in range(count):
            log = open(self.config.data_dir / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
            pin = _pin_to(cores[(first_core + i) % len(cores)]) if pinned else None
            self.workers.append(subprocess.Popen(command, env=self.env(partitions), cwd=ROOT, stdout=log,
                                                 stderr=subprocess.STDOUT, preexec_fn=pin))
        time.sleep(8)  # let them connect (and the recovery sweep run) before the clock starts

    def stop_workers(self) -> list[float]:
        """Stop every worker; returns each worker's peak RSS in MB (its main process plus its pool child)."""
        peaks = [_tree_peak_mb(w.pid) for w in self.workers]
        for worker in self.workers:
            worker.terminate()
            worker.wait(timeout=120)
        self.workers = []
        return peaks

    def run(self, transform_id: str, task_type: str, **params: object) -> TaskRun:
        start = time.perf_counter()
        run = task_runs.start_run(self.config, self.db, transform_id, task_type, params, self.user.id,
                                  enqueue)
        stages: dict[str, float] = {}  # stage -> seconds since the start when it was first seen (polled)
        while (run := task_runs.get_run(self.db, run.id)).status not in TERMINAL:
            stages.setdefault(run.stage or "queued", round(time.perf_counter() - start, 1))
            time.sleep(0.2)
        if run.status != RunStatus.SUCCEEDED:
            raise SystemExit(f"{task_type} ended {run.status}: {run.error_message}")
        run.wall_seconds = round(time.perf_counter() - start, 1)  # type: ignore[attr-defined]
        run.stage_starts = stages  # type: ignore[attr-defined]
        return run


def _pin_to(core: int) -> Callable[[], None]:
    return lambda: os.sched_setaffinity(0, {core})


def _tree_peak_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process and its children, summed: each is a separate address space."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0.0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return round(total)


def prepare(bench: Bench, data: Path) -> str:
    with open(data / "records.csv", "rb") as handle:
        dataset = datasets.create_from_upload(bench.config, bench.db, "records.csv", handle, user_id=bench.user.id)
    info = create_transform(bench.config, bench.db, {"name": "synth", "dataset_id": dataset.id, "primary_key": "id"},
                            bench.user.id)
    transform_id = info.transform.id
    bench.start_workers(1, 1)
    sets = bench.run(transform_id, "LABELING_SET_GENERATION", num_sets=10, set_size=10)
    truth = pd.read_csv(data / "truth.csv", dtype=str).set_index("id")["entity_id"]
    answered = label_from_truth(pd.read_csv(bench.config.data_dir / sets.output, dtype=str), truth, "id")
    with tempfile.NamedTemporaryFile("wb", suffix=".csv") as handle:
        answered.to_csv(handle, index=False)
        handle.flush()
        with open(handle.name, "rb") as stream:
            run = labels.start_import(bench.config, bench.db, transform_id, "labels.csv", stream, False,
                                      bench.user.id, enqueue)
    while task_runs.get_run(bench.db, run.id).status not in TERMINAL:
        time.sleep(0.2)
    bench.stop_workers()
    return transform_id


def measure(bench: Bench, transform_id: str, workers: int, partitions: int, pinned: bool = True,
            first_core: int = 0) -> dict[str, object]:
    bench.start_workers(workers, partitions, pinned, first_core)
    run = bench.run(transform_id, "FIND_MATCHES")
    peaks = bench.stop_workers()
    output = bench.config.data_dir / run.output
    digest = hashlib.sha256(output.read_bytes()).hexdigest()[:16]
    logs = [(bench.config.data_dir / f"worker-{i}.log") for i in range(workers)]
    return {"workers": workers, "pinned_one_core_each": pinned, "partitions": partitions,
            "wall_seconds": run.wall_seconds,  # type: ignore[attr-defined]
            "execution_seconds": round(run.execution_seconds or 0, 1), "peak_rss_mb": peaks,
            "first_core": first_core, "output_sha256": digest, "partitions_scored_per_worker": _scored(logs),
            "stage_starts": run.stage_starts}  # type: ignore[attr-defined]


def interleaved(repeat: int, configs: list[Callable[[int], dict[str, object]]]) -> list[dict[str, object]]:
    """Each configuration once per round, ``repeat`` rounds: the machine is shared and drifts over minutes, so
    configurations run side by side and each round's ratio compares runs minutes apart, not a whole repeat
    apart. Round ``r`` starts handing out cores at core ``r``. Per configuration: its fastest run (the least
    disturbed), with every wall time in round order."""
    rounds = [[run(r) for run in configs] for r in range(repeat)]
    out = []
    for i in range(len(configs)):
        runs = [r[i] for r in rounds]
        best = min(runs, key=lambda r: float(r["wall_seconds"]))  # type: ignore[arg-type]
        out.append({**best, "all_wall_seconds": [r["wall_seconds"] for r in runs]})
    return out


def _scored(logs: list[Path]) -> list[int]:
    """Candidate-scoring partitions per worker (explanation partitions, job ``<run>-explain``, not counted)."""
    texts = [log.read_text(errors="replace") if log.exists() else "" for log in logs]
    return [text.count("scored by this worker") - text.count("-explain: partition") for text in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of the three configurations, interleaved; the fastest of each is reported")
    args = parser.parse_args()
    data = HERE / "data" / f"synth_{args.rows}_{args.seed}"
    if not (data / "records.csv").exists():
        subprocess.run([sys.executable, str(HERE / "synth.py"), "--rows", str(args.rows), "--seed", str(args.seed),
                        "--out", str(data)], check=True)
    if args.broker.startswith("redis"):
        import redis
        redis.Redis.from_url(args.broker).flushdb()
    root = Path(tempfile.mkdtemp(prefix="fanout-bench-"))
    try:
        bench = Bench(root, args.broker)
        transform_id = prepare(bench, data)
        configs = [(1, 1, False), (1, args.partitions, True), (2, args.partitions, True)]
        results = interleaved(args.repeat, [lambda r, c=c: measure(bench, transform_id, *c, first_core=r)
                                            for c in configs])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(args.rows, results)


def report(rows: int, results: list[dict[str, object]]) -> None:
    base, one, two = (float(r["wall_seconds"]) for r in results)  # type: ignore[arg-type]
    print(f"| FIND_MATCHES, {rows:,} records | wall s | peak RSS MB per worker | partitions scored per worker |")
    print("|---|---|---|---|")
    names = ("1 worker, whole machine, fan-out off", "1 worker on 1 core, fan-out on",
             "2 workers on 1 core each, fan-out on")
    for name, r in zip(names, results, strict=True):
        print(f"| {name} | {r['wall_seconds']} | {r['peak_rss_mb']} | {r['partitions_scored_per_worker']} |")
    for name, r in zip(names, results, strict=True):
        print(f"{name}: stages first seen at (s) {json.dumps(r['stage_starts'])}")
    same = len({r["output_sha256"] for r in results}) == 1
    walls: list[list[float]] = [r["all_wall_seconds"] for r in results]  # type: ignore[misc]
    per_round = [round(a / b, 2) for a, b in zip(walls[1], walls[2], strict=True)]
    print(f"\n2 single-core workers vs 1: {one / two:.2f}x (fastest of each; per round: {per_round}, median "
          f"{statistics.median(per_round):.2f}x); vs 1 worker "
          f"on the whole machine without fan-out: {base / two:.2f}x; identical outputs: {same}")
    out = HERE / "results" / f"fanout_{rows}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "runs": results, "ratio_per_round": per_round,
                               "identical_outputs": same}, indent=2))


if __name__ == "__main__":
    main()
