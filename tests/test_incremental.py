"""Keeping matches up to date through the CLI: ``match --store``, ``match-incremental``, ``entities``, ``forget``.

The people fixture (600 records, truth known) is split into a base and batches; every test works on a store of
its own, made from a store built once per module (a copy of its directory)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import assert_one_line_error, run, run_quietly
from conftest import FIXTURES, score_output

from matcher.entity_store import EntityStore

PEOPLE = FIXTURES / "people"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    return pd.read_csv(PEOPLE / "records.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def split(people: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base of 400 records and two batches of 100, drawn at random (entities spread across them)."""
    where = tmp_path_factory.mktemp("split")
    order = np.random.default_rng(3).permutation(len(people))
    parts = {"base": order[:400], "batch1": order[400:500], "batch2": order[500:]}
    out = {}
    for name, rows in parts.items():
        out[name] = where / f"{name}.csv"
        people.iloc[rows].to_csv(out[name], index=False)
    return out


@pytest.fixture(scope="module")
def base_store(split: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("base")
    code, _, err = run_quietly("match", split["base"], "--primary-key", "id", "--output", where / "out.csv",
                               "--store", where / "store", "--changes", where / "changes.csv", "--quiet")
    assert code == 0, err
    return where / "store"


@pytest.fixture
def store(base_store: Path, tmp_path: Path) -> Path:
    shutil.copytree(base_store, tmp_path / "store")
    return tmp_path / "store"


def _entities(store: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / f"entities-{time.monotonic_ns()}.csv"
    code, _, err = run_quietly("entities", "--store", store, "--output", out, "--records")
    assert code == 0, err
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def _incremental(store: Path, batch: Path, tmp_path: Path, name: str = "inc") -> tuple[pd.DataFrame, pd.DataFrame]:
    out, changes = tmp_path / f"{name}.csv", tmp_path / f"{name}-changes.csv"
    code, _, err = run_quietly("match-incremental", batch, "--store", store, "--output", out, "--changes", changes,
                               "--quiet")
    assert code == 0, err
    return pd.read_csv(out, dtype=str, keep_default_na=False), pd.read_csv(changes, dtype=str, keep_default_na=False)


def test_a_new_store_gives_every_entity_a_new_id(base_store: Path) -> None:
    changes = pd.read_csv(base_store.parent / "changes.csv", dtype=str)
    out = pd.read_csv(base_store.parent / "out.csv", dtype=str)
    assert set(changes["change"]) == {"NEW"}
    assert sorted(changes["match_id"].astype(int)) == list(range(1, out["match_id"].nunique() + 1))
    assert EntityStore(base_store).current_version() == 1


def test_batches_match_as_well_as_one_run_and_untouched_ids_never_change(
        store: Path, split: dict[str, Path], people: pd.DataFrame, tmp_path: Path) -> None:
    before = _entities(store, tmp_path)
    out1, changes1 = _incremental(store, split["batch1"], tmp_path, "one")
    out2, changes2 = _incremental(store, split["batch2"], tmp_path, "two")
    after = _entities(store, tmp_path)
    assert len(out1) == 100 and len(out2) == 100 and len(after) == len(people)
    touched = set(changes1["match_id"]) | set(changes2["match_id"])
    untouched = before[~before["match_id"].isin(touched)]
    joined = untouched.merge(after, on="id", suffixes=("_before", "_after"))
    assert len(joined) == len(untouched) > 200
    assert (joined["match_id_before"] == joined["match_id_after"]).all()
    # the batches' records found their entities: close to the one-shot run's quality on the same records
    truth = pd.read_csv(PEOPLE / "truth.csv", dtype=str)
    assert score_output(after, truth)["f1"] > 0.97
    assert {"GREW", "NEW"} <= set(changes1["change"])
    manifest = json.loads((store / "versions" / "v000003" / "manifest.json").read_text())
    assert manifest["entities"] == after["match_id"].nunique() and manifest["records"] == 600
    assert len(manifest["segments"]) == 3  # the base's rows and each batch's, none rewritten


def test_exact_copies_join_the_entities_of_their_originals(store: Path, split: dict[str, Path],
                                                           tmp_path: Path) -> None:
    before = _entities(store, tmp_path)
    copies = before.drop(columns=["match_id", "match_confidence_score"]).sample(30, random_state=1)
    originals = copies["id"].to_numpy()
    copies["id"] = ["copy-" + k for k in copies["id"]]
    copies.to_csv(tmp_path / "copies.csv", index=False)
    out, changes = _incremental(store, tmp_path / "copies.csv", tmp_path)
    original_ids = before.set_index("id").loc[originals, "match_id"].to_numpy()
    assert (out["match_id"].to_numpy() == original_ids).all()
    assert set(changes["change"]) == {"GREW"}
    assert set(changes["match_id"]) == set(original_ids)


def test_a_stored_key_is_an_update_not_an_error(store: Path, tmp_path: Path) -> None:
    before = _entities(store, tmp_path)
    row = before.drop(columns=["match_id", "match_confidence_score"]).iloc[[5]].copy()
    row["phone"] = "00000 000001"
    row.to_csv(tmp_path / "update.csv", index=False)
    out, _ = _incremental(store, tmp_path / "update.csv", tmp_path)
    after = _entities(store, tmp_path)
    assert len(after) == len(before)
    assert after.set_index("id").loc[row["id"].iloc[0], "phone"] == "00000 000001"
    assert out["match_id"].iloc[0] == before["match_id"].iloc[5]


def test_a_full_rerun_keeps_the_ids_of_entities_it_finds_again(store: Path, split: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    before = _entities(store, tmp_path)
    code, _, err = run_quietly("match", split["base"], "--primary-key", "id", "--output", tmp_path / "again.csv",
                               "--store", store, "--changes", tmp_path / "again-changes.csv", "--quiet")
    assert code == 0, err
    after = pd.read_csv(tmp_path / "again.csv", dtype=str, keep_default_na=False)
    joined = before.merge(after, on="id", suffixes=("_before", "_after"))
    assert (joined["match_id_before"] == joined["match_id_after"]).all()  # same data, same clusters, same ids
    assert pd.read_csv(tmp_path / "again-changes.csv").empty
    assert EntityStore(store).current_version() == 2


def test_two_runs_at_once_are_serialised(store: Path, split: dict[str, Path], tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "matcher", "match-incremental", str(split[b]), "--store",
                               str(store), "--output", str(tmp_path / f"{b}.csv"), "--quiet"],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True) for b in ("batch1", "batch2")]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    assert EntityStore(store).current_version() == 3
    assert len(_entities(store, tmp_path)) == 600  # neither run's records were lost to the other


def test_a_killed_run_leaves_the_previous_version_serving(store: Path, split: dict[str, Path],
                                                         tmp_path: Path) -> None:
    before = _entities(store, tmp_path)
    versions = store / "versions"
    proc = subprocess.Popen([sys.executable, "-m", "matcher", "match-incremental", str(split["batch1"]), "--store",
                             str(store), "--output", str(tmp_path / "killed.csv"), "--quiet"], cwd=ROOT)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".tmp-") for p in versions.iterdir()):  # killed while writing the version
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before writing its version"
        time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert EntityStore(store).current_version() == 1
    pd.testing.assert_frame_equal(_entities(store, tmp_path), before)
    _incremental(store, split["batch1"], tmp_path)  # the next run cleans up and publishes
    assert EntityStore(store).current_version() == 2
    assert not [p for p in versions.iterdir() if p.name.startswith(".tmp-")]


def _every_text(root: Path) -> str:
    """Every value of every file under ``root``, decoded: Parquet read back, zip members unpacked."""
    texts = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            texts.append(pd.read_parquet(path).astype(str).to_csv())
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                texts += [archive.read(name).decode("latin-1") for name in archive.namelist()]
        else:
            texts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(texts)


def test_forget_erases_records_and_reports_their_entities(store: Path, people: pd.DataFrame,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _entities(store, tmp_path)
    sizes = before["match_id"].map(before["match_id"].value_counts())
    unique_email = (before["email"].str.len() > 5) & before["email"].map(before["email"].value_counts()).eq(1)
    pair_id = before.loc[(sizes == 2) & unique_email, "match_id"].iloc[0]
    pair = before[before["match_id"] == pair_id]
    single = before[(sizes == 1) & unique_email].iloc[[0]]
    gone = pd.concat([pair[unique_email[pair.index]].iloc[[0]], single])
    assert all(email in _every_text(store) for email in gone["email"])
    gone[["id"]].to_csv(tmp_path / "keys.csv", index=False)
    code, _, err = run(capsys, "forget", tmp_path / "keys.csv", "--store", store, "--changes", tmp_path / "ch.csv")
    assert code == 0, err
    changes = pd.read_csv(tmp_path / "ch.csv", dtype=str).set_index("match_id")["change"]
    assert changes[single["match_id"].iloc[0]] == "REMOVED"
    assert changes[pair["match_id"].iloc[0]] == "SHRANK"
    after = _entities(store, tmp_path)
    assert len(after) == len(before) - 2 and not after["id"].isin(gone["id"]).any()
    everything = _every_text(store)
    for column in ("email", "phone"):
        for value in gone[column]:
            if (people[column] == value).sum() == 1:  # held by the erased record alone
                assert value not in everything, f"{value!r} is still in the store"
    assert [p.name for p in (store / "versions").iterdir()] == ["v000002"]


def test_user_errors_are_one_line(store: Path, split: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    batch = pd.read_csv(split["batch1"], dtype=str).drop(columns=["email"])
    batch.to_csv(tmp_path / "bad.csv", index=False)
    code, out, err = run(capsys, "match-incremental", tmp_path / "bad.csv", "--store", store, "--output",
                         tmp_path / "o.csv")
    assert_one_line_error(code, out, err, "'email'")
    code, out, err = run(capsys, "match-incremental", split["batch1"], "--store", tmp_path / "nowhere",
                         "--output", tmp_path / "o.csv")
    assert_one_line_error(code, out, err, "no entity store")
    pd.DataFrame({"id": ["no-such-key"]}).to_csv(tmp_path / "keys.csv", index=False)
    code, out, err = run(capsys, "forget", tmp_path / "keys.csv", "--store", store)
    assert_one_line_error(code, out, err, "no-such-key")
    assert EntityStore(store).current_version() == 1  # nothing published by a refused run


def test_golden_records_one_per_entity_with_provenance(store: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    records = _entities(store, tmp_path).set_index("id")
    (tmp_path / "rules.json").write_text('{"email": {"rule": "longest"}}')
    code, _, err = run(capsys, "entities", "--store", store, "--output", tmp_path / "golden.csv",
                       "--survivorship", tmp_path / "rules.json")
    assert code == 0, err
    golden = pd.read_csv(tmp_path / "golden.csv", dtype=str, keep_default_na=False)
    assert sorted(golden["match_id"].astype(int)) == sorted(records["match_id"].astype(int).unique())
    assert golden["records"].astype(int).sum() == len(records)
    for column in ("given_name", "surname", "email", "phone"):
        given = golden[golden[column + "__from"] != ""]
        source = records.loc[given[column + "__from"]]
        assert (source[column].to_numpy() == given[column].to_numpy()).all()  # the value is its record's
        assert (source["match_id"].to_numpy() == given["match_id"].to_numpy()).all()  # of its own entity
    longest = records.groupby("match_id")["email"].agg(lambda v: max(len(x) for x in v))
    assert (golden.set_index("match_id")["email"].str.len() == longest[golden["match_id"]].to_numpy()).all()
    (tmp_path / "bad.json").write_text('{"email": {"rule": "newest"}}')
    code, out, err = run(capsys, "entities", "--store", store, "--output", tmp_path / "g.csv", "--survivorship",
                         tmp_path / "bad.json")
    assert_one_line_error(code, out, err, "'email'")


def test_an_update_that_moves_a_record_to_another_entity(store: Path, tmp_path: Path) -> None:
    before = _entities(store, tmp_path)
    sizes = before["match_id"].map(before["match_id"].value_counts())
    pair_id = before.loc[sizes == 2, "match_id"].iloc[0]
    moved_key = before.loc[before["match_id"] == pair_id, "id"].iloc[1]
    other = before[sizes == 1].iloc[0]  # a record of another entity: the moved record becomes its copy
    row = before[before["id"] == moved_key].drop(columns=["match_id", "match_confidence_score"]).copy()
    for column in row.columns.drop("id"):
        row[column] = other[column]
    row.to_csv(tmp_path / "moved.csv", index=False)
    out, changes = _incremental(store, tmp_path / "moved.csv", tmp_path)
    assert out["match_id"].iloc[0] == other["match_id"]  # it joined the entity it now copies
    change = changes.set_index("match_id")
    # the old version left (the entity SHRANK, keeping its id), the new one joined the other entity (GREW)
    assert change.loc[pair_id, "change"] == "SHRANK" and change.loc[pair_id, "records_after"] == "1"
    assert change.loc[other["match_id"], "change"] == "GREW"
    after = _entities(store, tmp_path).set_index("id")
    assert (after["match_id"] == pair_id).sum() == 1 and len(after) == len(before)


def test_a_batch_that_bridges_entities_merges_them_by_the_rules(split: dict[str, Path], tmp_path: Path) -> None:
    """A store made at a strict threshold holds people split into several entities; copies of their records
    matched at the balanced threshold bring their entities together: the larger entity's id survives (ties: the
    older id), each absorbed id is recorded, and its records carry the survivor's id."""
    store = tmp_path / "store"
    code, _, err = run_quietly("match", split["base"], "--primary-key", "id", "--output", tmp_path / "out.csv",
                               "--store", store, "--precision-recall", "0.95", "--quiet")
    assert code == 0, err
    before = _entities(store, tmp_path)
    copies = before.drop(columns=["match_id", "match_confidence_score"]).copy()
    copies["id"] = ["copy-" + k for k in copies["id"]]
    copies.to_csv(tmp_path / "copies.csv", index=False)
    code, _, err = run_quietly("match-incremental", tmp_path / "copies.csv", "--store", store, "--output",
                               tmp_path / "inc.csv", "--changes", tmp_path / "changes.csv", "--precision-recall",
                               "0.5", "--quiet")
    assert code == 0, err
    changes = pd.read_csv(tmp_path / "changes.csv", dtype=str, keep_default_na=False)
    after = _entities(store, tmp_path).set_index("id")
    sizes = before["match_id"].value_counts()
    survivors = changes[(changes["change"] == "MERGED") & (changes["records_after"] != "0")]
    assert len(survivors) >= 1  # on this fixture: one person split at 0.95 (entities of 3 and 2 records), joined
    for row in survivors.itertuples():
        absorbed = row.related_ids.split(";")
        for gone in absorbed:
            mine = changes[changes["match_id"] == gone].iloc[0]
            assert (mine["change"], mine["related_ids"], mine["records_after"]) == ("MERGED", row.match_id, "0")
            assert (sizes[row.match_id], -int(row.match_id)) > (sizes[gone], -int(gone))  # larger, then older
            originals = before.loc[before["match_id"] == gone, "id"]
            assert (after.loc[originals, "match_id"] == row.match_id).all()
