"""What one labeler's answer costs the service when several answers per set are wanted: each answer that can
decide a set consolidates every answer of the transform (Dawid-Skene) under the transform's lock.

Usage::

    python bench/answer_cost.py [--sets 300]

An in-process app on SQLite (tests/api_support) with the people fixture, a policy of 3 answers per set, ``--sets``
sets of 12 random records answered by three simulated labelers (10% of their labels wrong) written straight to
the database but the last set, then timed PUTs of the last set's three answers and one changed answer. The first
timed answer finds the other sets complete and undecided and decides them all at once (one-time: answers were
written around the service); the later ones show the steady cost.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from api_support import add_labeling_set, people_frame, sqlite_api  # noqa: E402

from services import users  # noqa: E402
from storage.models import LabelAnswer, utcnow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=300)
    n_sets = parser.parse_args().sets
    api = sqlite_api(Path(tempfile.mkdtemp()))
    tid = api.transform(rows=600, labeling_policy={"answers_per_set": 3})["id"]
    keys = people_frame(600)["id"].tolist()
    rng = random.Random(0)
    tokens = {n: users.create_user(api.db, n, "labeler")[1] for n in "abc"}
    rows = []
    for s in range(n_sets):
        members = rng.sample(keys, 12)
        add_labeling_set(api.db, tid, f"s{s}", members)
        truth = {k: f"e{rng.randrange(4)}" for k in members}
        if s < n_sets - 1:
            rows += [LabelAnswer(transform_id=tid, labeling_set_id=f"s{s}", labeler=who, record_key=k,
                                 label=v if rng.random() > 0.1 else "x" + k, answered_at=utcnow())
                     for who in "abc" for k, v in truth.items()]
    with api.db.session() as session:
        session.add_all(rows)
    last = f"s{n_sets - 1}"
    members = api.call("GET", f"/transforms/{tid}/labeling-sets/{last}").get_json()["record_keys"]
    for who, label in [("a", "A"), ("b", "A"), ("c", "A"), ("a", "B")]:
        started = time.perf_counter()
        response = api.call("PUT", f"/transforms/{tid}/labeling-sets/{last}", tokens[who],
                            json={"labels": [{"record_key": k, "label": label} for k in members]})
        assert response.status_code == 200, response.get_json()
        print(f"answer by {who}: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
