"""Checks of bench/synth_kin.py on a 3,000-row generation: ``pytest bench/test_synth_kin.py``."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_kin  # noqa: E402

ROWS, SEED = 3000, 13


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synth_kin.generate_frame(ROWS, SEED)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kin")
    synth_kin.main(["--rows", str(ROWS), "--seed", str(SEED), "--out", str(out)])
    return out


def read(path: Path) -> pd.DataFrame:
    """A written file as ``generate_frame`` returns it: strings, None for empty cells."""
    frame = pd.read_csv(path, dtype=object, keep_default_na=False, na_values=[""])
    return frame.astype(object).where(frame.notna(), None)


def different_entity_pairs(records: pd.DataFrame, truth: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Record pairs of different entities with equal, non-empty values in all ``keys`` (exact strings)."""
    df = records[["id", *keys]].dropna(subset=keys).merge(truth, on="id")
    pairs = df.merge(df, on=keys, suffixes=("_a", "_b"))
    return pairs[(pairs.id_a < pairs.id_b) & (pairs.entity_id_a != pairs.entity_id_b)]


def test_layout(written, frames):
    records, truth = read(written / "records.csv"), read(written / "truth.csv")
    assert list(records.columns) == synth_kin.COLUMNS
    assert list(truth.columns) == ["id", "entity_id"]
    assert records.id.str.fullmatch(r"p\d{7}").all()
    meta = json.loads((written / "meta.json").read_text())
    sizes = truth.entity_id.value_counts()
    assert meta["primary_key"] == "id" and meta["source_column"] is None and meta["task"] == "dedup"
    assert meta["generator"] == "synth_kin" and meta["seed"] == SEED
    assert (meta["n_records"], meta["n_entities"]) == (ROWS, len(sizes))
    assert meta["n_true_pairs"] == int((sizes * (sizes - 1) // 2).sum())
    assert meta["largest_entity"] == sizes.max()


def test_deterministic(written, frames, tmp_path):
    synth_kin.generate(ROWS, SEED, tmp_path)
    for name in ("records.csv", "truth.csv", "meta.json"):
        assert (tmp_path / name).read_bytes() == (written / name).read_bytes(), name
    records, truth = frames
    pd.testing.assert_frame_equal(records, read(written / "records.csv"))
    pd.testing.assert_frame_equal(truth, read(written / "truth.csv"))
    again, _ = synth_kin.generate_frame(ROWS, SEED)
    pd.testing.assert_frame_equal(records, again)
    other, _ = synth_kin.generate_frame(ROWS, SEED + 1)
    assert not records.equals(other)
    assert (records.drop(columns="id") != other.drop(columns="id")).any(axis=None)


def test_truth_covers_every_id_once(frames):
    records, truth = frames
    assert len(records) == ROWS and records.id.is_unique
    assert truth.id.is_unique and set(truth.id) == set(records.id)
    assert truth.entity_id.notna().all()


def test_household_members_share_name_address_and_phone(frames):
    records, truth = frames
    pairs = different_entity_pairs(records, truth, ["last_name", "address", "phone"])
    assert len(pairs) > 0
    assert (pairs.id_a != pairs.id_b).all()


def test_twins(frames):
    records, truth = frames
    assert len(different_entity_pairs(records, truth, ["last_name", "birth_date", "address"])) > 0


def test_same_name_parent_and_child(frames):
    records, truth = frames
    assert len(different_entity_pairs(records, truth, ["first_name", "last_name", "address"])) > 0


def test_employer_shared_by_different_people(frames):
    records, truth = frames
    per_company = records[["id", "employer_id"]].dropna().merge(truth).groupby("employer_id").entity_id.nunique()
    assert (per_company > 1).sum() > 10
    assert per_company.max() > 20
    assert len(different_entity_pairs(records, truth, ["employer_id"])) > 0


def test_empty_rates(frames):
    records, _ = frames
    empty = records.isna().mean()
    for column in synth_kin.SPARSE:
        assert 0.3 <= empty[column] <= 0.6, (column, empty[column])
    for column in ("first_name", "last_name"):
        assert 0.02 <= empty[column] <= 0.08, (column, empty[column])
    assert empty["id"] == 0


def test_heavy_tailed_entity_sizes(frames):
    sizes = frames[1].entity_id.value_counts()
    assert sizes.max() > 20
    assert (sizes == 1).mean() > 0.5
    assert ((sizes >= 2) & (sizes <= 3)).sum() > 100
