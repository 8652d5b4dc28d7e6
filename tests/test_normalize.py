"""Normalisers that make one value written several ways compare equal."""

from __future__ import annotations

import pandas as pd
import pytest

from matcher.normalize import to_date_digits


@pytest.mark.parametrize("written", ["1984-03-07", "07/03/1984", "3/7/1984", "19840307", "1984.3.7",
                                     "1984-03-07 00:00:00", "1984-03-07T00:00"])
def test_one_date_in_every_common_format_gives_one_string(written: str) -> None:
    """Day-first and month-first writings of 7 March 1984 cannot be told apart, so both give year + smaller
    + larger number: a person's birth date from two systems agrees exactly (synth_kin mixes the formats)."""
    assert to_date_digits(pd.Series([written])).iloc[0] == "19840307"


@pytest.mark.parametrize("written", ["1984-03-17", "17/03/1984", "3/17/1984", "19840317"])
def test_a_day_over_12_is_read_as_the_day(written: str) -> None:
    assert to_date_digits(pd.Series([written])).iloc[0] == "19840317"


def test_what_is_not_a_date_keeps_its_digits_and_missing_stays_missing() -> None:
    out = to_date_digits(pd.Series(["abc 12", "", None, "12345", "1984-13-45"], dtype="string"))
    assert out.iloc[0] == "12" and out.iloc[3] == "12345" and out.iloc[4] == "19841345"
    assert out.iloc[1:3].isna().all()
