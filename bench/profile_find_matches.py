"""Profile one FIND_MATCHES run in this process, on one core, as the fan-out coordinator with no other worker.

Usage::

    python bench/profile_find_matches.py --rows 1000000 [--dir /tmp/prof] [--top 40] [--fanout]

The first call prepares ``--dir`` as ``fanout_workers.py`` does (upload, one labeling round answered from the
truth, import; real worker processes on the Redis broker); later calls reuse it. Then the run is executed
in-process under cProfile (``services.engine.execute``), pinned to one core, with fan-out on (``--fanout``:
partitions written to Parquet and scored here, as a lone worker does) or off. Prints the stage timeline and
the top functions by cumulative time; writes ``<dir>/find_matches.prof`` for snakeviz or pstats.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from fanout_workers import Bench, prepare  # noqa: E402

from services import engine, task_runs  # noqa: E402
from services.fanout import FanoutSettings  # noqa: E402
from storage.artifacts import ArtifactStore  # noqa: E402
from storage.models import Transform  # noqa: E402


def _prepared(directory: Path, rows: int, broker: str) -> tuple[Bench, str]:
    marker = directory / "transform_id"
    bench = Bench(directory, broker)
    if not marker.exists():
        marker.write_text(prepare(bench, HERE / "data" / f"synth_{rows}_42"))
    return bench, marker.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/prof"))
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--fanout", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    bench, transform_id = _prepared(args.dir, args.rows, args.broker)
    with bench.db.session() as session:
        assert session.get(Transform, transform_id) is not None
    run = task_runs.start_run(bench.config, bench.db, transform_id, "FIND_MATCHES", {}, bench.user.id,
                              lambda config, run_id: "profiled-in-process")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    settings = FanoutSettings(str(args.dir / "intermediate"), args.dir / "locks" / "fanout", 8,
                              0 if args.fanout else 10**12, bench.config.data_dir)
    start = time.perf_counter()
    timeline: list[tuple[str, float]] = []

    def hook(stage: str, fraction: float) -> None:
        if not timeline or timeline[-1][0] != stage:
            timeline.append((stage, round(time.perf_counter() - start, 2)))

    profile = cProfile.Profile()
    status = profile.runcall(engine.execute, bench.db, ArtifactStore(bench.config.data_dir), run.id, hook,
                             (settings, lambda job_id, partition: None))
    print(f"{status} in {time.perf_counter() - start:.1f} s; stages first seen at: {json.dumps(timeline)}")
    profile.dump_stats(str(args.dir / "find_matches.prof"))
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
