"""The fitted matcher cached between runs (services.model_cache): the candidates' design matrix is kept beside the
pickle as a file mapped in memory, gives the probabilities a fit in memory gives, and is rebuilt when damaged."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, load_fixture, make_labels
from worker_support import Service, make_service

from matcher.decision import Decision
from matcher.io import read_table
from matcher.labels import Labels, read_labels
from matcher.model_file import load_model, save_model
from matcher.pipeline import Matcher
from matcher.settings import ColumnSettings, Settings
from services import model_cache
from storage.models import Transform

PEOPLE = FIXTURES / "people" / "records.csv"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = make_service(tmp_path)
    yield service
    service.close()


@pytest.fixture(scope="module")
def labels() -> Labels:
    records, truth, _ = load_fixture("people")
    plain = Matcher(Settings(primary_key="id")).fit(records)
    frame = make_labels(records, truth, plain.candidates_.left, plain.candidates_.right, n_sets=20, seed=1)
    return read_labels(frame, "id")


def fitted(service: Service, transform_id: str, labels: Labels) -> Matcher:
    with service.db.session() as session:
        transform = session.get_one(Transform, transform_id)
        return model_cache.fitted_matcher(service.store, transform, read_table(PEOPLE, "id"), labels,
                                          lambda *_: None)


def test_the_design_matrix_is_kept_beside_the_fit_and_read_back_mapped(service: Service, labels: Labels) -> None:
    transform = service.add_transform(service.add_dataset(PEOPLE))
    in_memory = Matcher(Settings(primary_key="id")).fit(read_table(PEOPLE, "id"), labels)
    first = fitted(service, transform, labels)  # fits, caches, builds the design file
    design_file = next((service.store.root / "artifacts" / transform).glob("*/design.npy"))
    assert isinstance(first.candidate_design_, np.memmap) and Path(first.candidate_design_.filename) == design_file
    np.testing.assert_array_equal(first.candidate_design_, first.design(first.candidates_))
    np.testing.assert_array_equal(first.prob_, in_memory.prob_)

    written_at = design_file.stat().st_mtime_ns
    again = fitted(service, transform, labels)  # reloads both
    assert design_file.stat().st_mtime_ns == written_at
    np.testing.assert_array_equal(again.prob_, in_memory.prob_)


@pytest.mark.parametrize("damage", ["truncated", "other values", "other width"])
def test_a_damaged_design_file_is_rebuilt_not_trusted(service: Service, labels: Labels, damage: str) -> None:
    transform = service.add_transform(service.add_dataset(PEOPLE))
    expected = fitted(service, transform, labels).prob_
    design_file = next((service.store.root / "artifacts" / transform).glob("*/design.npy"))
    good = np.load(design_file)
    if damage == "truncated":
        design_file.write_bytes(design_file.read_bytes()[:1000])
    else:
        bad = np.zeros_like(good) if damage == "other values" else good[:, :-1].copy()
        np.save(design_file, bad)
    again = fitted(service, transform, labels)
    np.testing.assert_array_equal(np.load(design_file), good)
    np.testing.assert_array_equal(again.prob_, expected)


def test_the_fit_reloads_mapped_and_an_unreadable_one_is_fitted_again(service: Service, labels: Labels) -> None:
    """The cached fit's arrays come back mapped from its file; a file in another format (an older cache's
    plain pickle) or cut short is a cache miss, never a failed run."""
    transform = service.add_transform(service.add_dataset(PEOPLE))
    expected = fitted(service, transform, labels).prob_
    fit_file = next((service.store.root / "artifacts" / transform).glob("*/matcher.fit"))
    reloaded = fitted(service, transform, labels)
    base = reloaded.candidates_.left
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview)  # a view of the mapped file, not a copy
    whole = fit_file.read_bytes()
    for damaged in (pickle.dumps(reloaded.settings_), whole[:len(whole) // 2]):
        fit_file.write_bytes(damaged)
        np.testing.assert_array_equal(fitted(service, transform, labels).prob_, expected)
        assert fit_file.read_bytes() == whole


def test_a_cached_a_reloaded_and_a_fresh_fit_decide_alike(service: Service, labels: Labels, tmp_path: Path) -> None:
    """The same labels three ways: fitted now, reloaded from the service's cache, and saved to a model file
    and applied (``matcher.model_file``): every decision gives the same output rows and statistics."""
    records = read_table(PEOPLE, "id")
    fresh = Matcher(Settings(primary_key="id")).fit(records, labels)
    transform = service.add_transform(service.add_dataset(PEOPLE))
    fitted(service, transform, labels)
    cached = fitted(service, transform, labels)  # the second call reloads the cached fit
    assert isinstance(cached.candidate_design_, np.memmap)
    save_model(fresh, tmp_path / "model.zip")
    reloaded = Matcher.from_model(load_model(tmp_path / "model.zip"), records)
    for tradeoff in (0.0, 0.2, 0.5, 0.8, 1.0):
        for enforce in (False, True):
            decision = Decision(precision_recall_tradeoff=tradeoff, enforce_labels=enforce)
            expected = fresh.predict(decision)
            for other in (cached, reloaded):
                result = other.predict(decision)
                pd.testing.assert_frame_equal(result.records, expected.records)
                assert result.stats == expected.stats


def _decisions(linkage: bool, labeled: bool) -> list[Decision]:
    """Every knob that acts after the fit over its values: the tradeoff on a grid, one-to-one off, on and
    decided from the data (linkage only), enforced labels (with labels only) and a cluster cap."""
    return [Decision(precision_recall_tradeoff=tradeoff, enforce_labels=enforce, one_to_one=one_to_one,
                     max_cluster_size=cap)
            for tradeoff in (0.0, 0.2, 0.5, 0.8, 1.0)
            for one_to_one in ((None, False, True) if linkage else (None,))
            for enforce in ((False, True) if labeled else (False,))
            for cap in (None, 3)]


@pytest.mark.parametrize("labeled", [False, True], ids=["cold-start", "labeled"])
def test_linkage_and_chosen_column_types_decide_alike_cached_reloaded_and_fresh(
        service: Service, labeled: bool, tmp_path: Path) -> None:
    """The three ways again, on a linkage (where one-to-one acts) with a column type the transform chose
    (``column_types``, passed to the fit as a settings column): with and without labels, every decision gives
    the same match ids, scores and statistics."""
    records, truth, source = load_fixture("linkage")
    chosen = {"suburb": "categorical", "soc_sec_id": "ignore"}
    settings = Settings(primary_key="id", source_column=source,
                        columns=[ColumnSettings(name, kind) for name, kind in chosen.items()])
    labels = None
    if labeled:
        plain = Matcher(settings).fit(records)
        frame = make_labels(records, truth, plain.candidates_.left, plain.candidates_.right, n_sets=20, seed=1)
        labels = read_labels(frame, "id")
    fresh = Matcher(settings).fit(records, labels)
    assert {c.name: c.type for c in fresh.settings_.columns if c.name in chosen} == chosen
    transform = service.add_transform(service.add_dataset(FIXTURES / "linkage" / "records.csv"),
                                      source_column=source, column_types=chosen)
    with service.db.session() as session:
        row = session.get_one(Transform, transform)
        for _ in range(2):  # fitted and cached, then reloaded from the cache
            cached = model_cache.fitted_matcher(service.store, row, records, labels, lambda *_: None)
    assert isinstance(cached.candidate_design_, np.memmap) or len(cached.candidates_) == 0
    save_model(fresh, tmp_path / "model.zip")
    reloaded = Matcher.from_model(load_model(tmp_path / "model.zip"), records)
    decisions = _decisions(linkage=True, labeled=labeled)
    assert len({fresh.predict(d).stats["clusters"] for d in decisions}) > 1  # the knobs do change the output
    for decision in decisions:
        expected = fresh.predict(decision)
        for other in (cached, reloaded):
            result = other.predict(decision)
            pd.testing.assert_frame_equal(result.records, expected.records)
            assert result.stats == expected.stats
