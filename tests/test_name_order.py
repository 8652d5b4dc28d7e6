"""Given name and surname swapped between two records are evidence of a match, learnt from the data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from conftest import load_fixture

from matcher import name_order
from matcher.features import compare
from matcher.model_file import SavedModel, _contents, load_model, model_bytes
from matcher.pipeline import Matcher
from matcher.prepare import prepare
from matcher.profile import infer_settings
from matcher.settings import ColumnSettings, Settings

N_COPIES = 40
# the copies keep names, birth date and town: what a second registration often holds
BLANKED = ("street_address", "postcode", "email", "phone")


def with_copies(swap: bool) -> tuple[pd.DataFrame, list[str]]:
    """The people fixture plus a copy of 40 of its one-record people, contact details left out: with given name
    and surname swapped (``swap``), or with the names of 40 other one-record people (a control: the same birth
    dates and towns, nothing to say these are the same people). Returns the records and the copied ids."""
    records, truth, _ = load_fixture("people")
    alone = truth["entity_id"].map(truth["entity_id"].value_counts()) == 1
    ids = truth["id"][alone].to_list()
    copied, donors = ids[:N_COPIES], ids[N_COPIES:2 * N_COPIES]
    originals = records.set_index("id").loc[copied]
    copies = originals.copy()
    if swap:
        copies["given_name"], copies["surname"] = originals["surname"], originals["given_name"]
    else:
        donor = records.set_index("id").loc[donors]
        copies["given_name"], copies["surname"] = donor["given_name"].to_numpy(), donor["surname"].to_numpy()
    copies[list(BLANKED)] = ""
    copies.index = "copy-" + copies.index
    return pd.concat([records, copies.reset_index()], ignore_index=True), copied


def copies_matched(records: pd.DataFrame, copied: list[str]) -> tuple[int, int]:
    """How many copies share their original's cluster, and the largest cluster holding a copy."""
    result = Matcher(Settings(primary_key="id")).fit(records).predict().records.set_index("id")["match_id"]
    original, copy = result.loc[copied].to_numpy(), result.loc[["copy-" + i for i in copied]].to_numpy()
    sizes = result.value_counts()
    return int((original == copy).sum()), int(sizes.loc[copy].max())


def test_a_swapped_duplicate_is_matched_and_its_weight_comes_from_em() -> None:
    records, copied = with_copies(swap=True)
    matched, largest = copies_matched(records, copied)
    assert matched >= N_COPIES - 2 and largest == 2  # (main before this change: 3 of 40)
    fitted = Matcher(Settings(primary_key="id")).fit(records)
    for column in ("given_name", "surname"):
        swapped = fitted.candidates_.levels[column] == name_order.SWAPPED
        assert swapped.sum() >= N_COPIES  # every swapped copy is a candidate (blocking brings it)
        # the level's weight is learnt: a swap is evidence for a match, a clear disagreement against
        assert fitted.fs_.column_weights(fitted.candidates_)[column][swapped].mean() > 0


def test_the_other_columns_alone_do_not_match_the_copies() -> None:
    """Control: copies with other people's names are not matched, so the swap is what matches them above."""
    records, copied = with_copies(swap=False)
    matched, _ = copies_matched(records, copied)
    assert matched <= 3


def test_swapped_level_only_where_both_names_agree_crosswise_and_not_straight() -> None:
    records = pd.DataFrame({"id": ["a", "b", "c", "d", "e"],
                            "given_name": ["john", "smith", "john", "smith", "johm"],
                            "surname": ["smith", "john", "smith", "jones", "smiht"]})
    settings = infer_settings(records, "id")  # typed by profiling, as a user's table is
    assert [c.type for c in settings.data_columns] == ["person_name", "person_name"]
    table = prepare(records, settings)
    left, right = np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4])
    feats = compare(table, left, right)
    # a-b swapped; a-c straight; a-d shares one crosswise word only; a-e straight typos
    assert feats.levels["given_name"].tolist()[0] == name_order.SWAPPED
    assert feats.levels["surname"].tolist()[0] == name_order.SWAPPED
    assert all(feats.levels[c][1] == feats.n_levels[c] - 1 for c in ("given_name", "surname"))
    assert feats.levels["given_name"][2] == 0 and feats.levels["surname"][2] == 0
    assert all(feats.levels[c][3] > name_order.SWAPPED for c in ("given_name", "surname"))
    assert feats.sims[name_order.CROSS_FEATURE][0] == 1.0 and feats.sims[name_order.CROSS_FEATURE][1] < 0.8


def test_one_name_column_is_compared_as_before() -> None:
    records = pd.DataFrame({"id": ["a", "b", "c"], "name": ["john smith", "smith john", "mary jones"],
                            "dob": ["1990-01-01", "1990-01-01", "1980-02-02"]})
    fitted = Matcher(Settings(primary_key="id")).fit(records)
    assert name_order.CROSS_FEATURE not in fitted.candidates_.sims
    assert fitted.candidates_.n_levels["name"] == 4  # three thresholds plus disagreement: no swapped level


def test_a_rarely_filled_third_name_column_is_not_compared_crosswise() -> None:
    """Given name and surname (filled for every record) are compared crosswise; a second surname filled for one
    record keeps its straight levels only."""
    records = pd.DataFrame({"id": ["a", "b", "c", "d"], "given_name": ["john", "smith", "mary", "anne"],
                            "surname": ["smith", "john", "jones", "brown"], "second_surname": ["", "", "lee", ""],
                            "dob": ["1990-01-01", "1990-01-01", "1980-02-02", "1970-03-03"]})
    settings = infer_settings(records, "id")
    assert [c.type for c in settings.data_columns][:3] == ["person_name"] * 3
    table = prepare(records, settings)
    assert [c.name for c in name_order.name_columns(table)] == ["given_name", "surname"]
    feats = compare(table, np.array([0, 0]), np.array([1, 2]))
    assert feats.n_levels["second_surname"] == 4 and feats.n_levels["given_name"] == 5
    assert feats.levels["surname"][0] == name_order.SWAPPED


def test_a_saved_model_compares_crosswise_the_name_columns_it_was_fitted_with() -> None:
    """Which two name columns are compared crosswise depends on their fill; a saved model keeps the fit's choice,
    so data that ranks the fill otherwise (a batch, another file) is compared on the model's levels, not refused."""
    records, _, _ = load_fixture("people")
    records = records.assign(middle_name="")
    records.loc[records.index[:20], "middle_name"] = "Ann"  # rarely filled at the fit: not compared crosswise
    settings = Settings(primary_key="id", columns=[ColumnSettings("middle_name", name_order.NAME_TYPE)])
    fitted = Matcher(settings).fit(records)
    assert [c.name for c in name_order.name_columns(fitted.table_)] == ["given_name", "surname"]
    model = load_model(model_bytes(fitted))
    assert model.crosswise_names == ("given_name", "surname")

    other = records.assign(middle_name="Lee")  # now filled on every row, the surname on fewer than half
    other.loc[other.index[::2], "surname"] = ""
    other.loc[other.index[1::4], "surname"] = ""
    assert name_order.name_columns(prepare(other, fitted.settings_)) != name_order.name_columns(fitted.table_)
    applied = Matcher.from_model(model, other)  # before: "the model compares ... on other levels": refused
    assert applied.table_.crosswise == ("given_name", "surname")
    assert applied.candidates_.n_levels == fitted.candidates_.n_levels
    applied.predict()


def test_a_model_saved_before_the_choice_was_written_finds_it_from_its_levels() -> None:
    fitted = Matcher(Settings(primary_key="id")).fit(load_fixture("people")[0])
    manifest, arrays = _contents(fitted)
    assert manifest.pop("crosswise_names") == ["given_name", "surname"]
    assert SavedModel(manifest, arrays, None, "").crosswise_names == ("given_name", "surname")
    before_swapped = json.loads(json.dumps(manifest))
    values = before_swapped["fellegi_sunter"]
    values["n_levels"] = [k - 1 if c in ("given_name", "surname") else k
                          for c, k in zip(values["columns"], values["n_levels"], strict=True)]
    # a file from before the swapped level: applied without it, as it was fitted
    assert SavedModel(before_swapped, arrays, None, "").crosswise_names == ()
