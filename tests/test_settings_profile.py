"""Settings (the JSON config of record) and column profiling (type guesses from names and values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher.errors import SettingsError
from matcher.profile import infer_settings, infer_type
from matcher.settings import ColumnSettings, Settings

# --- settings ---------------------------------------------------------------------------------


def full_settings() -> Settings:
    return Settings(
        primary_key="id",
        source_column="src",
        columns=[ColumnSettings("surname", "person_name"), ColumnSettings("notes", "ignore", blocking=False),
                 ColumnSettings("dob", "date")],
        precision_recall_tradeoff=0.8,
        accuracy_cost_tradeoff=0.25,
        enforce_labels=True,
        one_to_one=True,
        max_cluster_size=7,
        seed=42,
    )


def test_settings_json_round_trip(tmp_path: Path) -> None:
    settings = full_settings()
    path = tmp_path / "settings.json"
    path.write_text(settings.to_json(), encoding="utf-8")

    again = Settings.from_json_file(path)

    assert again == settings
    assert again.to_json() == settings.to_json()
    assert all(isinstance(c, ColumnSettings) for c in again.columns)
    assert again.columns[1] == ColumnSettings("notes", "ignore", blocking=False)
    assert [c.name for c in again.data_columns] == ["surname", "dob"]


def test_settings_defaults_from_minimal_json() -> None:
    settings = Settings.from_dict({"primary_key": "id"})
    assert settings == Settings(primary_key="id")
    assert settings.precision_recall_tradeoff == 0.5
    assert settings.columns == []


@pytest.mark.parametrize("knob", ["precision_recall_tradeoff", "accuracy_cost_tradeoff"])
@pytest.mark.parametrize("value", [1.5, -0.1, "0.5", None])
def test_knobs_outside_unit_interval_are_rejected(knob: str, value: object) -> None:
    with pytest.raises(SettingsError, match=knob):
        Settings.from_dict({"primary_key": "id", knob: value})
    with pytest.raises(SettingsError):
        Settings(primary_key="id", **{knob: value})


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, 0.3])
def test_knob_bounds_are_accepted(value: float) -> None:
    settings = Settings(primary_key="id", precision_recall_tradeoff=value, accuracy_cost_tradeoff=value)
    assert settings.precision_recall_tradeoff == value


def test_unknown_settings_keys_are_named() -> None:
    with pytest.raises(SettingsError, match="unknown settings keys: precision, zzz"):
        Settings.from_dict({"primary_key": "id", "zzz": 1, "precision": 0.5})


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({}, "primary_key"),
        ({"primary_key": "id", "max_cluster_size": 1}, "max_cluster_size"),
        ({"primary_key": "id", "columns": [{"name": "x", "type": "blob"}]}, "unknown type 'blob'"),
        ({"primary_key": "id", "columns": [{"name": "x", "type": "date", "weight": 2}]}, "invalid settings"),
        ({"primary_key": "id", "columns": [{"name": "x"}]}, "invalid settings"),
    ],
)
def test_invalid_settings_raise_settings_error(data: dict, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_dict(data)


@pytest.mark.parametrize(("text", "fragment"), [("{not json", "cannot read settings"),
                                                ("[1, 2]", "must hold a JSON object")])
def test_unreadable_settings_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_json_file(path)
    with pytest.raises(SettingsError, match="cannot read settings"):
        Settings.from_json_file(tmp_path / "missing.json")


# --- profiling --------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
N = 300
FIRST = ["mary", "john", "ahmed", "li", "olga", "pedro", "sven", "amina", "kofi", "yuki", "anna", "raj",
         "fatima", "tom", "ines", "igor", "chen", "zoe", "omar", "lena", "paul", "nina", "ivan", "sara",
         "hugo", "maya", "leo", "eva", "max", "ida", "ben", "ada", "kai", "mia", "noah", "ella"]
WORDS = ["red", "chair", "wooden", "oak", "table", "metal", "lamp", "soft", "blue", "sofa", "with", "legs",
         "large", "small", "antique", "modern", "glass", "top", "four", "drawers"]


def column(values: list[str]) -> pd.Series:
    return pd.Series(values, dtype=object)


def dates(fmt: str) -> list[str]:
    days = pd.Timestamp("1940-01-01") + pd.to_timedelta(RNG.integers(0, 25_000, N), unit="D")
    return [d.strftime(fmt) for d in days]


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("contact", [f"{RNG.choice(FIRST)}{i}@example.com" for i in range(N)], "email"),
        ("e_mail", [f"{RNG.choice(FIRST)}.{i}@mail.org" if i % 4 else "" for i in range(N)], "email"),
        ("dob", dates("%Y-%m-%d"), "date"),
        ("anything", dates("%Y-%m-%d"), "date"),  # ISO dates are dates whatever the name
        ("date_of_birth", dates("%Y%m%d"), "date"),
        ("dob", dates("%Y%m%d"), "date"),
        ("ref", dates("%Y%m%d"), "short_code"),  # 8 digits without a date-like name: an identifier
        ("phone", [f"07{RNG.integers(100, 999)} {RNG.integers(100000, 999999)}" for _ in range(N)], "phone"),
        ("mobile", [f"+44 7{RNG.integers(100, 999)} {RNG.integers(10**5, 10**6)}" for _ in range(N)],
         "phone"),
        ("zip", [f"{RNG.integers(10000, 99999)}" for _ in range(N)], "postcode"),
        ("postcode", [f"AB{RNG.integers(1, 30)} {RNG.integers(1, 9)}XY" for _ in range(N)], "postcode"),
        ("surname", [str(RNG.choice(FIRST)).title() + "son" for _ in range(N)], "person_name"),
        ("given_name", [str(RNG.choice(FIRST)) for _ in range(N)], "person_name"),
        ("first_name", [str(RNG.choice(FIRST)) for _ in range(N)], "person_name"),
        ("description", [" ".join(RNG.choice(WORDS, 6)) for _ in range(N)], "free_text"),
        ("state", [str(RNG.choice(["nsw", "vic", "qld", "wa", "tas"])) for _ in range(N)], "categorical"),
        ("colour", [str(RNG.choice(["dark red", "light blue", "green"])) for _ in range(N)], "categorical"),
        ("account", [str(v) for v in RNG.integers(1_000_000, 9_999_999, N)], "short_code"),
        ("price", [f"{v / 100:.2f}" for v in RNG.integers(100, 10**6, N)], "number"),
        ("sku", [f"AB-{v}" for v in RNG.integers(1000, 9999, N)], "short_code"),
    ],
)
def test_infer_type_on_obvious_columns(name: str, values: list[str], expected: str) -> None:
    series = column([v if v != "" else None for v in values])
    assert infer_type(name, series) == expected


def test_infer_type_of_an_empty_column_is_ignore() -> None:
    assert infer_type("anything", column([None, None, None])) == "ignore"


def test_infer_settings_skips_key_source_and_match_columns_and_keeps_file_order() -> None:
    df = pd.DataFrame({
        "surname": [str(RNG.choice(FIRST)) for _ in range(N)],
        "id": [str(i) for i in range(N)],
        "src": ["a", "b"] * (N // 2),
        "email": [f"x{i}@example.com" for i in range(N)],
        "match_id": ["1"] * N,
        "dob": dates("%Y-%m-%d"),
    })
    base = Settings(primary_key="id", source_column="src", columns=[ColumnSettings("dob", "short_code")])

    settings = infer_settings(df, "id", "src", base=base)

    assert [(c.name, c.type) for c in settings.columns] == [
        ("surname", "person_name"), ("email", "email"), ("dob", "short_code")]  # user's choice kept
    assert json.loads(settings.to_json())["columns"][2] == {"name": "dob", "type": "short_code",
                                                            "blocking": True}
