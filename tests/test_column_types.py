"""The column-type registry (matcher.column_types) is the one place a type is described: a type registered
there alone is accepted by the settings, normalised, blocked on, compared with its own similarity and levels,
and reported; an unregistered one is refused, naming the registered ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES
from rapidfuzz.distance import Levenshtein

from matcher import column_types, normalize
from matcher.column_types import ColumnType
from matcher.errors import SettingsError
from matcher.io import read_table
from matcher.pipeline import Matcher
from matcher.profile import infer_settings
from matcher.settings import ColumnSettings, Settings

PEOPLE = FIXTURES / "people" / "records.csv"


def _initial(series: pd.Series) -> pd.Series:
    return normalize.basic(series).str[:1]


def test_an_unregistered_type_is_refused_naming_every_registered_one() -> None:
    with pytest.raises(SettingsError) as refused:
        ColumnSettings("given_name", "initial")
    assert all(name in str(refused.value) for name in (*column_types.REGISTRY, column_types.IGNORE))


def test_a_type_registered_alone_is_prepared_compared_matched_and_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    initial = ColumnType("initial", _initial, (("first", Levenshtein.normalized_similarity),), (1.0,),
                         term_frequencies=True, label="Initial", description="the first letter")
    monkeypatch.setitem(column_types.REGISTRY, initial.name, initial)
    records = read_table(PEOPLE, "id")
    settings = infer_settings(records, "id")
    settings.columns = [ColumnSettings(c.name, "initial" if c.name == "given_name" else c.type)
                        for c in settings.columns]
    settings = Settings.from_dict(settings.to_dict())  # as saved and edited by a user

    matcher = Matcher(settings).fit(records)
    features = matcher.candidates_
    initials = _initial(records["given_name"]).to_numpy(dtype=object)
    a, b = initials[features.left], initials[features.right]
    present = pd.notna(a) & pd.notna(b)
    same_initial = present.copy()
    same_initial[present] = a[present] == b[present]
    assert same_initial.any() and (present & ~same_initial).any()
    expected = np.where(present, same_initial.astype(np.float32), np.nan)
    np.testing.assert_array_equal(features.sims["given_name:first"], expected)  # on the normalised initials only
    assert [name for name in features.sims if name.startswith("given_name:")] == ["given_name:first"]
    assert features.n_levels["given_name"] == 2  # one threshold: agree or not
    assert set(np.unique(features.levels["given_name"])) <= {-1, 0, 1}
    assert np.isfinite(features.tf["given_name"][same_initial]).all()  # term frequencies of the initial
    assert "given_name" in matcher.table_.keys  # blocked on by default, as an exact key
    assert matcher.predict().stats["column_types"]["given_name"] == "initial"


def test_name_keys_of_a_column_without_any_value() -> None:
    """Found by erasure through the service: the records left to re-cluster had no given name at all."""
    keys = column_types.name_keys("given_name", pd.Series([None, None], dtype="string"))
    assert set(keys) == {"given_name", "given_name~phonetic"}
