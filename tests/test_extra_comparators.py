"""The settings' extra comparators (``matcher.extra_comparators``) as far as they need no recordlinkage: what a
settings file may name, how it round-trips, and the message a user without recordlinkage gets. Their effect on a
fit, with the real package, is in tests/test_recordlinkage_interop.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, run
from conftest import FIXTURES

from matcher.errors import SettingsError
from matcher.extra_comparators import ExtraComparator, import_recordlinkage
from matcher.pipeline import Matcher
from matcher.settings import Settings

STRING = {"name": "surname_jw", "feature": "recordlinkage.compare.String",
          "kwargs": {"left_on": "surname", "method": "jarowinkler", "threshold": 0.85}}


def settings_with(*extras: dict) -> Settings:
    return Settings.from_dict({"primary_key": "id", "extra_comparators": list(extras)})


def test_extra_comparators_round_trip_through_the_settings_json(tmp_path: Path) -> None:
    settings = settings_with(STRING)
    path = tmp_path / "settings.json"
    path.write_text(settings.to_json())

    again = Settings.from_json_file(path)

    assert again.extra_comparators == [ExtraComparator(**STRING)]
    assert json.loads(path.read_text())["extra_comparators"] == [STRING]


def test_settings_without_extras_serialise_as_before() -> None:
    """No new key in settings files, saved models and --write-settings output unless extras are used."""
    assert "extra_comparators" not in Settings(primary_key="id").to_dict()


def test_columns_read_by_an_extra() -> None:
    geo = ExtraComparator("home", "recordlinkage.compare.Geographic",
                          {"left_on_lat": "lat", "left_on_lng": "lng", "method": "linear", "offset": 1.0})
    assert geo.columns == ["lat", "lng"]
    assert ExtraComparator("f", "recordlinkage.compare.FrequencyA", {"on": "city"}).columns == ["city"]
    assert ExtraComparator(**STRING).columns == ["surname"]


@pytest.mark.parametrize(("entry", "message"), [
    ({**STRING, "feature": "os.system"}, "must be a class of the recordlinkage package"),
    ({**STRING, "feature": "recordlinkage_evil.compare.String"}, "must be a class of the recordlinkage package"),
    ({**STRING, "feature": "recordlinkage.compare.String()"}, "must be a class of the recordlinkage package"),
    ({**STRING, "name": "a:b"}, "name must be"),
    ({**STRING, "name": ""}, "name must be"),
    ({**STRING, "kwargs": {"method": "jarowinkler"}}, "need the column to compare"),
    ({**STRING, "kwargs": ["surname"]}, "kwargs must be an object"),
    ({**STRING, "code": "print(1)"}, "each extra comparator is an object of name, feature and kwargs"),
    ({"name": "x"}, "each extra comparator is an object of name, feature and kwargs"),
])
def test_a_bad_extra_comparator_is_refused_naming_it(entry: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_with(entry)


def test_extra_comparator_names_are_unique() -> None:
    with pytest.raises(SettingsError, match="unique: 'surname_jw'"):
        settings_with(STRING, STRING)
    with pytest.raises(SettingsError, match="must be a list"):
        Settings.from_dict({"primary_key": "id", "extra_comparators": STRING})


def test_an_extra_comparator_must_read_columns_the_data_has(people) -> None:
    records, _, _ = people
    with pytest.raises(SettingsError, match="reads column 'nickname'"):
        Matcher(settings_with({**STRING, "kwargs": {"left_on": "nickname"}})).fit(records)
    with pytest.raises(SettingsError, match="has the name of a column"):
        Matcher(settings_with({**STRING, "name": "surname"})).fit(records)


def test_without_recordlinkage_a_fit_with_extras_says_how_to_install_it(people,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    records, _, _ = people
    monkeypatch.setitem(sys.modules, "recordlinkage", None)  # as if not installed: importing it raises

    with pytest.raises(ImportError, match="pip install recordlinkage"):
        import_recordlinkage()
    with pytest.raises(ImportError, match="pip install recordlinkage"):
        Matcher(settings_with(STRING)).fit(records.head(50))


def test_without_recordlinkage_the_cli_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "recordlinkage", None)
    settings = tmp_path / "settings.json"
    settings.write_text(settings_with(STRING).to_json())
    out = tmp_path / "out.csv"

    code, stdout, err = run(capsys, "match", FIXTURES / "people" / "records.csv", "--primary-key", "id",
                            "--settings", settings, "--output", out, "--quiet")

    assert_one_line_error(code, stdout, err, "pip install recordlinkage")
    assert not out.exists()
