"""Scoring candidates in partitions (services.fanout): the same probabilities as one process, whoever scores
which partition; real workers on Redis share a FIND_MATCHES run and write what one process writes."""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from conftest import load_fixture, make_labels
from test_brokers import REDIS_URL, require
from worker_support import make_service, synth

from matcher.incremental import store_from_fit
from matcher.io import read_table
from matcher.labels import read_labels
from matcher.pipeline import Matcher
from matcher.settings import Settings
from services import fanout
from services.clusters import explain_clusters, within_clusters
from services.fanout import FanoutScorer, FanoutSettings, spread_odds

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # kombu's


@pytest.fixture(scope="module")
def labeled_matcher() -> Matcher:
    records, truth, _ = load_fixture("people")
    plain = Matcher(Settings(primary_key="id")).fit(records)
    frame = make_labels(records, truth, plain.candidates_.left, plain.candidates_.right, n_sets=20, seed=1)
    return Matcher(Settings(primary_key="id")).fit(records, read_labels(frame, "id"))


def settings(tmp_path: Path, partitions: int = 4) -> FanoutSettings:
    return FanoutSettings(str(tmp_path / "store"), tmp_path / "locks", partitions=partitions, min_pairs=1)


def test_a_lone_coordinator_scores_every_partition_itself(labeled_matcher: Matcher, tmp_path: Path) -> None:
    sent: list[tuple[str, int]] = []
    progress: list[float] = []
    scorer = FanoutScorer(settings(tmp_path), "run-1", lambda run, p: sent.append((run, p)),
                          lambda stage, f: progress.append(f))
    prob = scorer(labeled_matcher)
    np.testing.assert_array_equal(prob, labeled_matcher.score(labeled_matcher.candidates_))
    assert sent == [("run-1", p) for p in range(4)]  # every partition offered to the other workers
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert not (tmp_path / "store" / "fanout" / "run-1").exists()  # intermediate data removed


def test_meanwhile_runs_once_after_every_partition_is_handed_out(labeled_matcher: Matcher, tmp_path: Path) -> None:
    """The coordinator's own later work (FIND_MATCHES reads its dataset file) runs while others score; if it
    fails, nothing stays behind."""
    sent: list[int] = []
    seen: list[list[int]] = []
    scorer = FanoutScorer(settings(tmp_path), "run-w", lambda run, p: sent.append(p), lambda *_: None,
                          meanwhile=lambda: seen.append(list(sent)))
    np.testing.assert_array_equal(scorer(labeled_matcher), labeled_matcher.score(labeled_matcher.candidates_))
    assert seen == [[0, 1, 2, 3]]

    def fail() -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError):
        FanoutScorer(settings(tmp_path), "run-f", lambda *_: None, lambda *_: None, meanwhile=fail)(labeled_matcher)
    assert not (tmp_path / "store" / "fanout" / "run-f").exists()


def test_intermediate_data_may_live_on_any_fsspec_filesystem(labeled_matcher: Matcher, tmp_path: Path) -> None:
    """Object storage for workers on several hosts goes through the same fsspec calls as memory:// here."""
    import fsspec

    config = FanoutSettings("memory://matcher-test", tmp_path / "locks", partitions=3, min_pairs=1)
    written: list[str] = []

    def peek(run_id: str, partition: int) -> None:
        written.extend(fsspec.filesystem("memory").ls(f"/matcher-test/fanout/{run_id}", detail=False))

    prob = FanoutScorer(config, "run-m", peek, lambda *_: None)(labeled_matcher)
    np.testing.assert_array_equal(prob, labeled_matcher.score(labeled_matcher.candidates_))
    assert any(name.endswith("input-0002.parquet") for name in written)
    assert any(name.endswith("job.pkl") for name in written)
    assert not fsspec.filesystem("memory").exists("/matcher-test/fanout/run-m")


def test_partitions_scored_by_another_worker_give_the_same_result(labeled_matcher: Matcher,
                                                                  tmp_path: Path) -> None:
    config = settings(tmp_path, partitions=6)
    helped: list[bool] = []

    def another_worker(run_id: str, partition: int) -> None:  # what the Celery task does, on another thread
        def work() -> None:
            helped.append(fanout.score_partition(config, run_id, partition))
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()  # before the coordinator looks: it must find these partitions done

    prob = FanoutScorer(config, "run-2", another_worker, lambda *_: None)(labeled_matcher)
    np.testing.assert_array_equal(prob, labeled_matcher.score(labeled_matcher.candidates_))
    assert helped == [True] * 6


def test_partitions_of_a_cached_design_file_are_read_from_it_not_written(labeled_matcher: Matcher,
                                                                         tmp_path: Path) -> None:
    """With the cached fit's design file (services.model_cache) every partition goes out at once and whoever
    scores it reads its rows from the file, found from its own data directory (mounted anywhere)."""
    data_dir = tmp_path / "data"
    (data_dir / "artifacts").mkdir(parents=True)
    np.save(data_dir / "artifacts" / "design.npy", labeled_matcher.candidate_design())
    matcher = copy.copy(labeled_matcher)
    matcher.candidate_design_ = np.load(data_dir / "artifacts" / "design.npy", mmap_mode="r")
    config = FanoutSettings(str(tmp_path / "store"), tmp_path / "locks", 5, 1, data_dir)
    job_dir = tmp_path / "store" / "fanout" / "run-d"
    seen: list[list[str]] = []
    helped: list[bool] = []

    def another_worker(run_id: str, partition: int) -> None:
        seen.append(sorted(path.name for path in job_dir.iterdir()))
        helped.append(fanout.score_partition(config, run_id, partition))

    prob = FanoutScorer(config, "run-d", another_worker, lambda *_: None)(matcher)
    np.testing.assert_array_equal(prob, labeled_matcher.score(labeled_matcher.candidates_))
    assert helped == [True] * 5
    assert seen[0] == ["job.pkl"]  # no input written
    source = fanout.RowsInFile.of(config, matcher.candidate_design_, fanout.bounds(len(prob), 5))
    assert source is not None and source.path == "artifacts/design.npy"
    assert fanout.RowsInFile.of(config, labeled_matcher.candidate_design(), [(0, 1)]) is None  # in memory


def test_a_partition_whose_claimer_died_is_scored_by_the_coordinator(labeled_matcher: Matcher,
                                                                     tmp_path: Path) -> None:
    """A worker claims partition 1 and dies before writing its output: the kernel drops its lock, the
    coordinator (which waited on it) scores it."""
    config = settings(tmp_path)
    released = threading.Event()

    def claim_then_die(run_id: str, partition: int) -> None:
        if partition != 1:
            return
        holding = threading.Event()

        def doomed() -> None:
            with fanout.claim(config, run_id, partition):
                holding.set()
                time.sleep(0.5)
            released.set()
        threading.Thread(target=doomed).start()
        holding.wait(5)

    prob = FanoutScorer(config, "run-3", claim_then_die, lambda *_: None)(labeled_matcher)
    assert released.is_set()
    np.testing.assert_array_equal(prob, labeled_matcher.score(labeled_matcher.candidates_))


def test_small_or_unlabeled_candidate_sets_are_scored_in_place(labeled_matcher: Matcher, tmp_path: Path) -> None:
    sent: list[int] = []
    big = FanoutSettings(str(tmp_path / "store"), tmp_path / "locks", partitions=4, min_pairs=10**9)
    FanoutScorer(big, "run-4", lambda run, p: sent.append(p), lambda *_: None)(labeled_matcher)
    assert sent == [] and not (tmp_path / "store").exists()


def test_explanations_handed_out_give_the_pairs_one_process_gives(labeled_matcher: Matcher, tmp_path: Path) -> None:
    """FIND_MATCHES hands the ablations of the clusters' pairs out before writing its other files and gathers
    them last: the same pairs.parquet, and nothing left behind either once resolved or once discarded."""
    config = settings(tmp_path)
    records = labeled_matcher.predict().records
    sent: list[tuple[str, int]] = []
    odds_of = spread_odds(config, "run-5-explain", lambda job, p: sent.append((job, p)), lambda *_: None)
    job_dir = tmp_path / "store" / "fanout" / "run-5-explain"

    pending = explain_clusters(labeled_matcher, records, odds_of=odds_of)
    assert sent == [("run-5-explain", p) for p in range(4)] and (job_dir / "input-0003.parquet").exists()
    pd.testing.assert_frame_equal(pending.resolve(), within_clusters(labeled_matcher, records))
    assert not job_dir.exists()

    explain_clusters(labeled_matcher, records, odds_of=odds_of).discard()  # a run stopped before publishing
    assert not job_dir.exists()


def truth_labels(records: pd.DataFrame, truth: pd.DataFrame, n_sets: int = 20) -> pd.DataFrame:
    """Sets of two duplicated entities plus two loners, labeled by entity."""
    size = truth.groupby("entity_id")["id"].transform("size")
    dup = truth[size >= 2].groupby("entity_id")["id"].apply(list).sort_index()
    lone = truth.loc[size == 1, ["id", "entity_id"]].sort_values("id")
    rows = []
    for k in range(n_sets):
        members = [(i, e) for e in dup.index[2 * k:2 * k + 2] for i in dup[e]]
        members += list(lone.iloc[2 * k:2 * k + 2].itertuples(index=False, name=None))
        rows += [{"labeling_set_id": f"set-{k}", "label": f"L{e}", "id": i} for i, e in members]
    return pd.DataFrame(rows).merge(records, on="id")


def test_two_workers_share_a_find_matches_run(tmp_path: Path) -> None:
    """Real workers on Redis, fan-out forced on a small table: the worker that did not get the run scores
    partitions, and the output is exactly what the matcher writes in one process."""
    require("127.0.0.1", 6379, "Redis")
    redis.Redis.from_url(REDIS_URL).flushdb()
    csv = synth(30_000, 11, tmp_path / "synth")
    records = read_table(csv, "id")
    labels = truth_labels(records, pd.read_csv(csv.parent / "truth.csv", dtype=str))
    service = make_service(tmp_path / "data", broker_url=REDIS_URL)
    env = {"MATCHER_FANOUT_MIN_PAIRS": "1000", "MATCHER_FANOUT_PARTITIONS": "16"}
    try:
        for _ in range(2):
            service.start_worker(env_overrides=env, loglevel="info")
        transform = service.add_transform(service.add_dataset(csv, "synth"))
        imported = service.wait(service.start(transform, "IMPORT_LABELS",
                                              path=str(service.upload(labels, "labels.csv"))))
        assert imported.status == "SUCCEEDED", imported.error_message
        run = service.wait(service.start(transform, "FIND_MATCHES"))
        assert run.status == "SUCCEEDED", run.error_message
        logs = [w.log.read_text() for w in service.workers]
        scored = [log.count(f"{run.id}: partition") for log in logs]
        explained = [log.count(f"{run.id}-explain: partition") for log in logs]
        assert sum(scored) == 16 and min(scored) >= 1, scored  # both workers scored partitions
        assert sum(explained) == 16, explained  # the explanations of the clusters' pairs were handed out too
        # the candidates' rows came from the cached fit's design file, not from inputs written for the run
        assert sum(f"{run.id}: 16 partitions of artifacts/{transform}/" in log for log in logs) == 1

        matcher = Matcher(Settings(primary_key="id")).fit(records, read_labels(labels, "id"))
        expected = store_from_fit(matcher, matcher.predict(), matcher.default_decision, None).records  # store ids
        written = pd.read_csv(service.output(run), dtype=str, keep_default_na=False)
        assert written["id"].tolist() == expected["id"].tolist()
        assert written["match_id"].tolist() == expected["match_id"].astype(str).tolist()
        pairs = pd.read_parquet(service.output(run).with_name("pairs.parquet"))
        pd.testing.assert_frame_equal(pairs, within_clusters(matcher, expected), check_dtype=False)
    finally:
        service.close()
        redis.Redis.from_url(REDIS_URL).flushdb()
