"""The ``matcher match`` command: outputs, settings round trip, one-line user errors, progress on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_support import assert_one_line_error, run
from conftest import FIXTURES, score_output

from matcher.cli import main
from matcher.settings import Settings

PEOPLE = FIXTURES / "people" / "records.csv"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """First 200 people records: enough to match, quicker to run many times."""
    path = tmp_path_factory.mktemp("small") / "people.csv"
    pd.read_csv(PEOPLE, dtype=str, keep_default_na=False).head(200).to_csv(path, index=False)
    return path


# --- success ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One in-process run on the people fixture with every optional output."""
    out_dir = tmp_path_factory.mktemp("run")
    paths = {name: out_dir / name for name in ("out.csv", "pairs.csv", "stats.json", "settings.json")}
    code = main(["match", str(PEOPLE), "--primary-key", "id", "--output", str(paths["out.csv"]),
                 "--pairs-output", str(paths["pairs.csv"]), "--stats-output", str(paths["stats.json"]),
                 "--write-settings", str(paths["settings.json"]), "--quiet"])
    return {"code": code, **paths}


def test_match_writes_every_row_with_match_columns(full_run: dict) -> None:
    assert full_run["code"] == 0
    records = pd.read_csv(PEOPLE, dtype=str, keep_default_na=False)
    out = pd.read_csv(full_run["out.csv"], dtype=str, keep_default_na=False)

    assert len(out) == len(records) == 600
    assert list(out.columns) == list(records.columns) + ["match_id", "match_confidence_score"]
    assert out["id"].tolist() == records["id"].tolist()
    assert out["match_confidence_score"].astype(float).between(0, 1).all()
    truth = pd.read_csv(FIXTURES / "people" / "truth.csv", dtype=str)
    assert score_output(out, truth)["f1"] >= 0.97  # measured 0.993, same as the library


def test_pairs_output(full_run: dict) -> None:
    pairs = pd.read_csv(full_run["pairs.csv"])
    assert list(pairs.columns[:3]) == ["key_a", "key_b", "match_probability"]
    assert all(c.endswith("_contribution") for c in pairs.columns[3:]) and len(pairs.columns) == 11
    assert len(pairs) >= 300
    assert pairs["match_probability"].min() >= 0.05  # --pairs-min-probability default
    assert pairs["match_probability"].is_monotonic_decreasing


def test_stats_output(full_run: dict) -> None:
    stats = json.loads(full_run["stats.json"].read_text(encoding="utf-8"))
    out = pd.read_csv(full_run["out.csv"], dtype=str)
    sizes = out["match_id"].value_counts()
    assert stats["records"] == 600
    assert stats["model"] == "fellegi_sunter"
    assert stats["clusters"] == int((sizes > 1).sum())
    assert stats["threshold"] == 0.5
    assert stats["candidate_pairs"] > 0


def test_written_settings_reproduce_the_run(full_run: dict, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_json_file(full_run["settings.json"])
    assert settings.primary_key == "id"
    assert {c.name: c.type for c in settings.columns}["email"] == "email"
    assert len(settings.columns) == 8

    again = tmp_path / "again.csv"
    code, out, err = run(capsys, "match", PEOPLE, "--primary-key", "id",
                         "--settings", full_run["settings.json"], "--output", again, "--quiet")

    assert (code, out, err) == (0, "", "")
    assert again.read_bytes() == full_run["out.csv"].read_bytes()


def test_flags_override_the_settings_file(small_people: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "s.json"
    settings.write_text(Settings(primary_key="other", precision_recall_tradeoff=0.9).to_json(),
                        encoding="utf-8")
    stats = tmp_path / "stats.json"
    code, _, _ = run(capsys, "match", small_people, "--primary-key", "id", "--settings", settings,
                     "--precision-recall", "0.2", "--output", tmp_path / "o.csv", "--stats-output", stats,
                     "--quiet")
    assert code == 0
    assert json.loads(stats.read_text())["threshold"] == 0.2


def test_progress_goes_to_stderr_and_quiet_silences_it(small_people: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "match", small_people, "--primary-key", "id", "--output", tmp_path / "a.csv")
    assert code == 0
    assert out == ""
    assert "[" in err and "#" in err and "100.0%" in err
    assert "200 records" in err

    code, out, err = run(capsys, "match", small_people, "--primary-key", "id", "--output", tmp_path / "b.csv",
                         "--quiet")
    assert (code, out, err) == (0, "", "")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_parquet_output(small_people: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.parquet"
    code, _, _ = run(capsys, "match", small_people, "--primary-key", "id", "--output", target, "--quiet")
    assert code == 0
    frame = pd.read_parquet(target)
    assert len(frame) == 200 and "match_id" in frame.columns


# --- user errors: exit code 2, one line, no traceback, no output file -------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet: list[str]) -> None:
    output = tmp_path / "out.csv"
    result = run(capsys, "match", tmp_path / "nope.csv", "--primary-key", "id", "--output", output, *quiet)
    assert_one_line_error(*result, "nope.csv: file not found")
    assert not output.exists()


def test_missing_primary_key_column(small_people: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.csv"
    result = run(capsys, "match", small_people, "--primary-key", "record_id", "--output", output)
    assert_one_line_error(*result, "primary key column 'record_id' not found")
    assert not output.exists()


def test_duplicate_primary_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path, "dup.csv", "id,name,city\n1,ann lee,york\n2,bob ray,leeds\n1,ann lee,york\n")
    output = tmp_path / "out.csv"
    result = run(capsys, "match", data, "--primary-key", "id", "--output", output)
    assert_one_line_error(*result, "primary key 'id' has 1 duplicated value(s): '1' (line 2, line 4)")
    assert not output.exists()


def test_labels_naming_unknown_keys(small_people: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    labels = write(tmp_path, "labels.csv", "labeling_set_id,label,id\ns1,A,r0000000\ns1,A,r9999999\n")
    output = tmp_path / "out.csv"
    result = run(capsys, "match", small_people, "--primary-key", "id", "--labels", labels, "--output", output)
    assert_one_line_error(*result, "'r9999999'")
    assert not output.exists()


def test_error_after_progress_started_is_on_its_own_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path, "keys.csv", "id\n1\n2\n3\n")
    output = tmp_path / "out.csv"
    code, out, err = run(capsys, "match", data, "--primary-key", "id", "--output", output)
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == ("matcher: error: no data columns to compare besides the primary key "
                                    "and source column")
    assert "Traceback" not in err
    assert not output.exists()


def test_bad_settings_file(small_people: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = write(tmp_path, "s.json", '{"primary_key": "id", "precision_recall_tradeoff": 1.5}')
    output = tmp_path / "out.csv"
    result = run(capsys, "match", small_people, "--primary-key", "id", "--settings", settings,
                 "--output", output)
    assert_one_line_error(*result, "precision_recall_tradeoff must be a number in [0, 1]")
    assert not output.exists()


@pytest.mark.parametrize("value", ["2", "-0.1", "high"])
def test_precision_recall_outside_unit_interval_is_a_usage_error(
        small_people: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    output = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as info:
        main(["match", str(small_people), "--primary-key", "id", "--precision-recall", value,
              "--output", str(output)])
    captured = capsys.readouterr()
    assert info.value.code == 2
    assert captured.out == ""
    assert "argument --precision-recall: expected a number in [0, 1]" in captured.err
    assert "Traceback" not in captured.err
    assert not output.exists()


# --- the installed command, in a real process -------------------------------------------------


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "matcher", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120, check=False)


def test_subprocess_success(small_people: Path, tmp_path: Path) -> None:
    proc = cli("match", small_people, "--primary-key", "id", "--output", "out.csv",
               "--pairs-output", "pairs.csv", "--stats-output", "stats.json", "--write-settings", "s.json",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "100.0%" in proc.stderr and "Traceback" not in proc.stderr
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert len(out) == 200 and list(out.columns[-2:]) == ["match_id", "match_confidence_score"]
    assert json.loads((tmp_path / "stats.json").read_text())["records"] == 200
    assert len(pd.read_csv(tmp_path / "pairs.csv")) > 0
    assert Settings.from_json_file(tmp_path / "s.json").primary_key == "id"

    again = cli("match", small_people, "--primary-key", "id", "--settings", "s.json", "--output", "again.csv",
                "--quiet", cwd=tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "out.csv").read_bytes()


def test_subprocess_errors(tmp_path: Path) -> None:
    proc = cli("match", "missing.csv", "--primary-key", "id", "--output", "out.csv", cwd=tmp_path)
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, "missing.csv: file not found")

    usage = cli("match", "missing.csv", "--primary-key", "id", "--output", "out.csv",
                "--precision-recall", "2", cwd=tmp_path)
    assert usage.returncode == 2
    assert "--precision-recall" in usage.stderr and "Traceback" not in usage.stderr
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(("flag", "expected", "reason"), [
    ([], True, "one-to-one on: by the unsupervised model"),
    (["--no-one-to-one"], False, "one-to-one off: set by the user"),
    (["--one-to-one"], True, "one-to-one on: set by the user"),
])
def test_one_to_one_is_decided_unless_a_flag_says(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  flag: list[str], expected: bool, reason: str) -> None:
    """Linkage of two duplicate-free tables: one-to-one switches itself on and says why on stderr and in the
    stats; --one-to-one / --no-one-to-one override it."""
    data = FIXTURES / "linkage" / "records.csv"
    stats = tmp_path / "stats.json"
    code, _, err = run(capsys, "match", data, "--primary-key", "id", "--source-column", "source", "--output",
                       tmp_path / "out.csv", "--stats-output", stats, "--quiet", *flag)
    assert code == 0, err
    written = json.loads(stats.read_text(encoding="utf-8"))
    assert written["one_to_one"] is expected and written["one_to_one_reason"].startswith(reason)
