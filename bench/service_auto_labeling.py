"""The labeling loop through the service, with the labeling policy's automated labeling: what humans label, what
the machine labels and the F1 reached, round by round.

Usage::

    python bench/service_auto_labeling.py BENCH_DIR --mode none|sets|complete [--rounds 5] [--target 0.95]
                                          [--check-share 0.1] [--seed 0]

An in-process app on SQLite (tests/api_support; runs executed in-process): the bench dataset uploaded, a transform
(with its source column for linkage) whose policy sets ``auto_label_mode`` (``none``: no automated labeling),
``--rounds`` LABELING_SET_GENERATIONs of 10 sets of 10 records (seeds ``--seed``, ``--seed`` + 1, ...), each set
answered through the API by a perfect labeler seeing what a labeler sees (truth's entity ids as labels), then a
FIND_MATCHES scored against truth (bench/score.py). One JSON line per round: human records labeled so far,
machine-labeled records, the within-set pairs touching a machine record and how many of them truth agrees with.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_support import Api, sqlite_api  # noqa: E402
from score import pairwise_scores  # noqa: E402

from services import engine  # noqa: E402
from storage.artifacts import ArtifactStore  # noqa: E402
from storage.models import Label  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("--mode", choices=["none", "sets", "complete"], required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--check-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    truth_frame = pd.read_csv(args.bench / "truth.csv", dtype=str)
    source_column = json.loads((args.bench / "meta.json").read_text()).get("source_column")
    source = pd.read_csv(args.bench / "records.csv", dtype=str).set_index("id")[source_column] \
        if source_column else None
    name = args.bench.parent.name if args.bench.name == "bench" else args.bench.name
    with tempfile.TemporaryDirectory() as scratch:
        loop(sqlite_api(Path(scratch)), args, name, truth_frame, source_column, source)


def loop(api: Api, args: argparse.Namespace, name: str, truth_frame: pd.DataFrame, source_column: str | None,
         source: pd.Series | None) -> None:
    truth = truth_frame.set_index("id").iloc[:, 0]
    art = ArtifactStore(api.config.data_dir)
    dataset = api.upload((args.bench / "records.csv").read_bytes(), "records.csv").get_json()
    policy = None if args.mode == "none" else {"auto_label_target": args.target, "auto_label_mode": args.mode,
                                               "auto_label_check_share": args.check_share}
    tid = api.call("POST", "/transforms", json={
        "name": name, "dataset_id": dataset["id"], "primary_key": "id", "labeling_policy": policy,
        **({"source_column": source_column} if source_column else {})}).get_json()["id"]
    human, started = 0, time.time()
    for round_ in range(args.rounds):
        run(api, art, tid, "LABELING_SET_GENERATION", {"num_sets": 10, "set_size": 10, "seed": args.seed + round_})
        human += answer_open_sets(api, tid, truth)
        machine, pairs, right = machine_verdicts(api, tid, truth)
        matched = run(api, art, tid, "FIND_MATCHES")
        pred = pd.read_csv(io.BytesIO(api.call("GET", f"/task-runs/{matched}/output").get_data()), dtype=str)
        f1 = pairwise_scores(pred[["id", "match_id"]], truth_frame, source)["f1"]
        print(json.dumps({"dataset": name, "mode": args.mode, "round": round_ + 1,
                          "human_records": human, "machine_records": machine, "machine_pairs": pairs,
                          "machine_pairs_right": right, "f1": round(f1, 4), "secs": round(time.time() - started)}),
              flush=True)


def run(api: Api, art: ArtifactStore, tid: str, kind: str, params: dict | None = None) -> str:
    body = {"type": kind, **({"params": params} if params else {})}
    task = api.call("POST", f"/transforms/{tid}/task-runs", json=body).get_json()
    assert engine.execute(api.db, art, task["id"]) == "SUCCEEDED", task
    return str(task["id"])


def answer_open_sets(api: Api, tid: str, truth: pd.Series) -> int:
    """The labeler answers every set it sees unlabeled, from truth; returns the records it labeled."""
    labeled = 0
    for summary in api.call("GET", f"/transforms/{tid}/labeling-sets", api.labeler).get_json()["labeling_sets"]:
        if summary["labeled"] == 0:
            path = f"/transforms/{tid}/labeling-sets/{summary['set_id']}"
            keys = api.call("GET", path, api.labeler).get_json()["record_keys"]
            body = {"labels": [{"record_key": k, "label": truth[k]} for k in keys]}
            assert api.call("PUT", path, api.labeler, json=body).status_code == 200
            labeled += len(keys)
    return labeled


def machine_verdicts(api: Api, tid: str, truth: pd.Series) -> tuple[int, int, int]:
    """Machine-labeled records, and the within-set pairs touching one: how many, how many truth agrees with."""
    with api.db.session() as session:
        rows = session.execute(select(Label.labeling_set_id, Label.record_key, Label.label, Label.labeled_by)
                               .where(Label.transform_id == tid)).all()
    by_set: dict[str, list[tuple[str, str, bool]]] = {}
    for set_id, key, label, by in rows:
        by_set.setdefault(set_id, []).append((key, label, by == "machine"))
    pairs = right = 0
    for items in by_set.values():
        for i, (a, label_a, machine_a) in enumerate(items):
            for b, label_b, machine_b in items[i + 1:]:
                if machine_a or machine_b:
                    pairs += 1
                    right += (label_a == label_b) == (truth[a] == truth[b])
    return sum(machine for items in by_set.values() for _, _, machine in items), pairs, right


if __name__ == "__main__":
    main()
