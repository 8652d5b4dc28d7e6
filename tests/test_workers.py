"""Task runs executed by real Celery workers (subprocesses, embedded SQLite broker unless said otherwise).

Rows are inserted through the storage models, runs are enqueued with ``workers.dispatch.enqueue`` exactly as the
API does after its commit, and each test polls the TaskRun row until the run ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import FIXTURES
from sqlalchemy import update
from worker_support import Service, make_service, matcher_worker_command, synth

from matcher.evaluate import evaluate
from matcher.io import read_table
from matcher.pipeline import Matcher
from services import model_cache
from services.run_context import jsonable, load_labels
from storage.models import TaskRun, Transform

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # kombu's

PEOPLE = FIXTURES / "people" / "records.csv"


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def truth_sets(n_sets: int, first: int = 0) -> pd.DataFrame:
    """A labels file from the fixture's truth: each set holds two duplicated entities and two loners, labeled
    by entity (so every set has matching and non-matching pairs)."""
    records = read_csv(PEOPLE)
    truth = read_csv(FIXTURES / "people" / "truth.csv")
    size = truth.groupby("entity_id")["id"].transform("size")
    dup = truth[size >= 2].groupby("entity_id")["id"].apply(list).sort_index()
    lone = truth.loc[size == 1, ["id", "entity_id"]].sort_values("id")
    rows = []
    for k in range(first, first + n_sets):
        members = [(i, e) for e in dup.index[2 * k:2 * k + 2] for i in dup[e]]
        members += list(lone.iloc[2 * k:2 * k + 2].itertuples(index=False, name=None))
        rows += [{"labeling_set_id": f"set-{k}", "label": f"L{e}", "id": i} for i, e in members]
    return pd.DataFrame(rows).merge(records, on="id")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = make_service(tmp_path_factory.mktemp("workers"))
    service.start_worker()
    yield service
    service.close()


@pytest.fixture(scope="module")
def people(service: Service) -> str:
    return service.add_dataset(PEOPLE)


def test_labeling_set_generation_writes_a_labeling_file_and_its_sets(service: Service, people: str) -> None:
    transform = service.add_transform(people)
    run_id = service.start(transform, "LABELING_SET_GENERATION", num_sets=4, set_size=8)
    run = service.wait(run_id)
    assert run.status == "SUCCEEDED", run.error_message
    assert (run.attempts, run.progress, run.output_format) == (1, 1.0, "csv")
    assert run.started_on <= run.completed_on and run.execution_seconds > 0
    frame = read_csv(service.output(run))
    assert list(frame.columns) == ["labeling_set_id", "label", *read_csv(PEOPLE).columns]
    assert (frame["label"] == "").all()
    sets = service.labeling_sets(transform)
    assert 1 <= len(sets) <= 4  # fewer than asked is the engine's known seed-pool limit on small data
    assert {s.set_id for s in sets} == set(frame["labeling_set_id"])
    for s in sets:
        assert sorted(s.record_keys) == sorted(frame.loc[frame["labeling_set_id"] == s.set_id, "id"])
        assert s.task_run_id == run_id and s.reason["records"] == len(s.record_keys)

    # Second round: label what was proposed; the next sets come from the cached fit and avoid labeled records.
    labeled = frame.assign(label=[f"L{k}" for k in range(len(frame))])
    service.wait(service.start(transform, "IMPORT_LABELS", path=str(service.upload(labeled, "round1.csv"))))
    model = next((service.store.root / "artifacts" / transform).glob("*/matcher.fit"))
    fitted_at = model.stat().st_mtime_ns
    again = service.wait(service.start(transform, "LABELING_SET_GENERATION", num_sets=4, set_size=8))
    assert again.status == "SUCCEEDED", again.error_message
    assert model.stat().st_mtime_ns == fitted_at  # reloaded, not refitted
    assert not set(read_csv(service.output(again))["id"]) & set(frame["id"])


def test_import_labels_appends_per_set_then_replaces_all(service: Service, people: str) -> None:
    transform = service.add_transform(people)
    first = truth_sets(2)  # set-0, set-1
    second = pd.concat([truth_sets(1, first=1).assign(label="same"), truth_sets(1, first=2)])  # set-1, set-2

    def load(frame: pd.DataFrame, name: str, replace: bool = False) -> dict:
        run = service.wait(service.start(transform, "IMPORT_LABELS", path=str(service.upload(frame, name)),
                                         replace=replace))
        assert run.status == "SUCCEEDED", run.error_message
        return pd.read_json(service.output(run), typ="series").to_dict()

    assert load(first, "a.csv")["mode"] == "append"
    labels = service.labels(transform)
    assert len(labels) == len(first) and set(labels["labeled_by"]) == {"alice"}

    load(second, "b.csv")
    load(second, "b-again.csv")  # the same sets again: replaced, never doubled
    labels = service.labels(transform)
    expected = pd.concat([first[first["labeling_set_id"] == "set-0"], second])
    assert len(labels) == len(expected)
    assert sorted(zip(labels["labeling_set_id"], labels["key"], labels["label"], strict=True)) == sorted(
        zip(expected["labeling_set_id"], expected["id"], expected["label"], strict=True))

    summary = load(first, "c.csv", replace=True)
    assert summary["mode"] == "replace" and summary["n_labeled_rows"] == len(first)
    labels = service.labels(transform)
    assert sorted(labels["key"]) == sorted(first["id"])


def test_evaluation_find_matches_and_export(service: Service, people: str) -> None:
    transform = service.add_transform(people)
    labels = truth_sets(6)
    imported = service.wait(service.start(transform, "IMPORT_LABELS", path=str(service.upload(labels, "l.csv"))))
    assert imported.status == "SUCCEEDED", imported.error_message
    evaluation, matches, export = (service.start(transform, kind)
                                   for kind in ("EVALUATION", "FIND_MATCHES", "EXPORT_LABELS"))

    run = service.wait(evaluation)
    assert run.status == "SUCCEEDED", run.error_message
    metrics = pd.read_json(service.output(run), typ="series").to_dict()
    assert 0.0 <= metrics["precision"] <= 1.0 and metrics["labels"]["n_sets"] == 6
    with service.db.session() as session:
        assert session.get(Transform, transform).evaluation_metrics["f1"] == metrics["f1"]
        advice = session.get_one(Transform, transform).evaluation_metrics["stop_advice"]
    # 6 imported sets: no generation known, so chunks of 10 sets; 3 rounds are needed before the curve is fitted
    assert advice["sentence"].startswith("not enough labeled rounds to estimate: label at least 24 more set(s)")
    assert advice["rounds_from"] == "chunks of 10 sets in labeling order" and advice["curve"] == []

    run = service.wait(matches)
    assert run.status == "SUCCEEDED", run.error_message
    records, output = read_csv(PEOPLE), read_csv(service.output(run))
    assert sorted(output["id"]) == sorted(records["id"])  # every input row exactly once
    assert list(output.columns) == [*records.columns, "match_id", "match_confidence_score"]
    assert output["match_id"].astype(int).between(1, len(records)).all()  # the entity store's ids
    assert output["match_confidence_score"].astype(float).between(0, 1).all()
    parquet = pd.read_parquet(service.output(run, "matches.parquet"))
    assert parquet["match_id"].astype(str).tolist() == output["match_id"].tolist()

    run = service.wait(export)
    assert run.status == "SUCCEEDED", run.error_message
    exported = read_csv(service.output(run))
    assert sorted(zip(exported["id"], exported["label"], strict=True)) == sorted(
        zip(labels["id"], labels["label"], strict=True))


def test_evaluation_from_the_cached_fit_agrees_with_a_fresh_fit(service: Service, people: str) -> None:
    """The first EVALUATION of a transform fits the matcher and caches it; the second reloads it (its design
    matrix memory-mapped). Both publish exactly the report ``matcher.evaluate`` gives on a matcher fitted here
    from scratch, on the same labels, with every OpenMP thread this process has."""
    transform = service.add_transform(people, name="evaluated twice")
    path = service.upload(truth_sets(10), "ten.csv")
    imported = service.wait(service.start(transform, "IMPORT_LABELS", path=str(path)))
    assert imported.status == "SUCCEEDED", imported.error_message
    reports = []
    for _ in range(2):
        run = service.wait(service.start(transform, "EVALUATION"))
        assert run.status == "SUCCEEDED", run.error_message
        reports.append(json.loads(service.output(run).read_text()))
    with service.db.session() as session:
        row = session.get_one(Transform, transform)
        settings = model_cache.settings_for(row)
        cached = service.store.model_dir(transform, model_cache.cache_version(row))
    assert (cached / model_cache.MODEL_FILE).exists() and (cached / model_cache.DESIGN_FILE).exists()
    records = read_table(PEOPLE, "id")
    labels = load_labels(service.db, transform, "id", records)
    fresh = jsonable(evaluate(Matcher(settings).fit(records, labels)))
    assert reports[0]["labels"]["n_sets"] == 10 and reports[0]["model"] == "classifier"
    assert reports[0] == reports[1] == fresh


def test_user_errors_fail_the_run_with_their_message(service: Service, people: str) -> None:
    transform = service.add_transform(people)
    bad = truth_sets(1)
    bad.loc[0, "id"] = "nope-1"
    run = service.wait(service.start(transform, "IMPORT_LABELS", path=str(service.upload(bad, "bad.csv"))))
    assert run.status == "FAILED" and "nope-1" in run.error_message
    assert run.output is None and not service.store.output_dir(run.id).exists()
    assert service.labels(transform).empty

    run = service.wait(service.start(transform, "LABELING_SET_GENERATION", num_sets=0))
    assert run.status == "FAILED" and "num_sets" in run.error_message
    run = service.wait(service.start(transform, "EVALUATION"))
    assert run.status == "FAILED" and "no labels" in run.error_message


def test_cancel_stops_a_running_run_and_publishes_nothing(service: Service, tmp_path: Path) -> None:
    transform = service.add_transform(service.add_dataset(synth(20_000, 5, tmp_path / "synth"), "synth"))
    run_id = service.start(transform, "FIND_MATCHES")
    service.wait(run_id, lambda r: r.status == "RUNNING" and r.progress > 0)
    with service.db.session() as session:  # what the API's cancel does
        cancelled = session.execute(update(TaskRun).where(TaskRun.id == run_id, TaskRun.status == "RUNNING")
                                    .values(status="STOPPING"))
        assert cancelled.rowcount == 1, "the run ended before it could be cancelled"
    run = service.wait(run_id)
    assert run.status == "STOPPED", (run.status, run.error_message)
    assert run.output is None and run.completed_on is not None
    assert not service.store.output_dir(run_id).exists()


def test_a_run_survives_its_worker_being_killed(tmp_path: Path) -> None:
    """SIGKILL mid-run: the message stays unacknowledged, a new worker (started with ``matcher worker``)
    re-queues the orphan at start and runs it from scratch, and the output is exactly that of an undisturbed
    run of the same settings on the same data."""
    service = make_service(tmp_path / "data")
    try:
        dataset = service.add_dataset(synth(50_000, 9, tmp_path / "synth"), "synth")
        crashed, calm = service.add_transform(dataset, name="crashed"), service.add_transform(dataset, name="calm")
        first = service.start_worker()
        run_id = service.start(crashed, "FIND_MATCHES")
        seen = service.wait(run_id, lambda r: r.status not in ("STARTING", "RUNNING") or r.progress > 0.2)
        assert seen.status == "RUNNING", "the run ended before the worker could be killed"
        first.kill()
        assert service.run(run_id).status == "RUNNING"
        assert not service.store.output_dir(run_id).exists()

        service.start_worker(matcher_worker_command(service.config.data_dir))  # the `matcher worker` verb
        run = service.wait(run_id)
        assert run.status == "SUCCEEDED", run.error_message
        assert run.attempts == 2
        reference = service.wait(service.start(calm, "FIND_MATCHES"))
        assert reference.status == "SUCCEEDED", reference.error_message
        recovered = read_csv(service.output(run)).sort_values("id", ignore_index=True)
        undisturbed = read_csv(service.output(reference)).sort_values("id", ignore_index=True)
        assert recovered["id"].is_unique and len(recovered) == 50_000
        pd.testing.assert_frame_equal(recovered, undisturbed)
    finally:
        service.close()
