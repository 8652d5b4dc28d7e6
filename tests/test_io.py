"""Reading and writing record tables: encodings, the string cell contract and one-line errors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from matcher.errors import InputError, MatcherError
from matcher.io import raw_table_from_frame, read_raw_table, read_table, to_arrow, write_table

FIXTURES = Path(__file__).parent / "fixtures" / "io"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_error(path: Path, primary_key: str = "id", **kwargs: str) -> str:
    with pytest.raises(InputError) as info:
        read_table(path, primary_key, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "errors are printed on one line"
    return message


# --- the cell contract -------------------------------------------------------------------------


def test_cells_are_stripped_strings_and_only_blank_cells_are_missing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plain UTF-8 must not warn
        df = read_table(FIXTURES / "people.csv", "id")

    assert list(df.columns) == ["id", "name", "zip", "country"]
    assert set(df.dtypes) == {np.dtype(object)}
    assert list(df.index) == [0, 1, 2, 3]  # the all-empty ",,," row is skipped
    assert df.loc[0].tolist() == ["1", "Ada Lovelace", "02139", "UK"]  # leading zero kept
    assert df.loc[1, "zip"] is None
    assert df.loc[1, "country"] == "NA"  # a literal, not a missing value
    assert df.loc[2, "name"] == "Grace\nHopper"
    assert df.loc[3].tolist() == ["4", None, None, "US"]


def test_utf8_bom_is_not_part_of_the_first_column_name() -> None:
    df = read_table(FIXTURES / "people_bom.csv", "id")

    assert list(df.columns) == ["id", "name", "city"]
    assert df["name"].tolist() == ["Zoë", "Bob"]
    assert df["city"].tolist() == ["Zürich", None]


def test_cp1252_file_is_decoded_with_a_warning_naming_the_encoding() -> None:
    with pytest.warns(UserWarning, match=r"not valid UTF-8; read it as cp1252"):
        df = read_table(FIXTURES / "people_cp1252.csv", "id")

    assert df["name"].tolist() == ["Müller", "café", "€uro Shop"]  # € only exists in cp1252
    assert df["city"].tolist() == ["Köln", "Paris", None]


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(b"id,name\n1,Jos\xe9\x81\n")

    with pytest.warns(UserWarning, match="latin-1"):
        df = read_table(path, "id")

    assert df["name"].tolist() == ["José\x81"]


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("id,name\n1,Zoë\n".encode("utf-16"))

    assert read_table(path, "id")["name"].tolist() == ["Zoë"]


def test_parquet_values_use_the_same_string_representation(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "age": pa.array([30, None, 41], pa.int64()),
            "score": pa.array([1.0, 2.5, float("nan")]),
            "name": pa.array([" Ada ", "", None]),
            "active": pa.array([True, False, None]),
        }
    )
    pq.write_table(table, path)

    df = read_table(path, "id")

    assert set(df.dtypes) == {np.dtype(object)}
    assert df["id"].tolist() == ["1", "2", "3"]
    assert df["age"].tolist() == ["30", None, "41"]
    assert df["score"].tolist() == ["1", "2.5", None]
    assert df["name"].tolist() == ["Ada", None, None]
    assert df["active"].tolist() == ["true", "false", None]


@pytest.mark.parametrize("name", ["out.parquet", "out.pq", "out.csv"])
def test_write_then_read_round_trips_ints_and_missing_values(tmp_path: Path, name: str) -> None:
    original = pd.DataFrame(
        {"id": [1, 2, 3], "zip": ["02139", None, "10001"], "n": pd.array([7, None, 9], dtype="Int64")}
    )
    write_table(original, tmp_path / name)

    df = read_table(tmp_path / name, "id")

    assert df.to_dict("list") == {
        "id": ["1", "2", "3"],
        "zip": ["02139", None, "10001"],
        "n": ["7", None, "9"],
    }


def test_dataframes_follow_the_same_contract() -> None:
    frame = pd.DataFrame({"id": [1, 2.0, "x"], "name": [" a ", None, float("nan")]})

    raw = raw_table_from_frame(frame)

    assert raw.frame.to_dict("list") == {"id": ["1", "2", "x"], "name": ["a", None, None]}
    assert raw.where([0, 2]) == "row 1, row 3"


# --- atomic writes -----------------------------------------------------------------------------


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path, "id\n1\n", name="out.csv")

    def half_write(self: pd.DataFrame, handle: object, **kwargs: object) -> None:
        handle.write(b"id\n9")  # type: ignore[attr-defined]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_table(pd.DataFrame({"id": ["2"]}), target)

    assert target.read_text() == "id\n1\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_write_into_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write"):
        write_table(pd.DataFrame({"id": ["1"]}), tmp_path / "nope" / "out.csv")


def test_written_csv_is_plain_utf8_without_index(tmp_path: Path) -> None:
    write_table(pd.DataFrame({"id": ["1"], "name": ["Zoë"]}), tmp_path / "out.csv")

    assert (tmp_path / "out.csv").read_bytes() == "id,name\n1,Zoë\n".encode()


# --- errors ------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in read_error(tmp_path / "absent.csv")


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert "file is empty" in read_error(write(tmp_path, text))


def test_header_without_rows(tmp_path: Path) -> None:
    assert "no data rows" in read_error(write(tmp_path, "id,name\n,\n"))


def test_a_row_with_too_many_fields_is_explained_with_its_line(tmp_path: Path) -> None:
    message = read_error(write(tmp_path, "id,name\n1,a\n2,b,extra\n"))

    assert "line 3 has 3 fields, more than the header's 2" in message and "double quotes" in message


def test_too_many_fields_names_the_line_after_a_quoted_line_break(tmp_path: Path) -> None:
    """pandas' own message counts records: it said line 3 here."""
    message = read_error(write(tmp_path, 'id,name\n1,"a\nb"\n2,b,extra\n'))

    assert "line 4 has 3 fields" in message


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"this is not parquet")

    assert "cannot read Parquet file" in read_error(path)


def test_missing_primary_key_column_lists_available_columns(tmp_path: Path) -> None:
    message = read_error(write(tmp_path, "ID,name\n1,a\n"))

    assert "primary key column 'id' not found" in message
    assert "'ID', 'name'" in message


def test_semicolon_separated_file_gets_a_hint(tmp_path: Path) -> None:
    assert "';'-separated" in read_error(write(tmp_path, "id;name\n1;a\n"))


def test_empty_primary_keys_name_their_lines(tmp_path: Path) -> None:
    rows = "".join(f" ,name{i}\n" for i in range(7))
    message = read_error(write(tmp_path, "id,name\n1,a\n" + rows))

    assert "primary key 'id' is empty on 7 line(s)" in message
    assert "line 3, line 4, line 5, line 6, line 7 and 2 more" in message


def test_empty_primary_key_line_counts_multiline_cells(tmp_path: Path) -> None:
    message = read_error(write(tmp_path, 'id,note\n1,"two\nlines"\n\n,x\n'))

    assert message.endswith("line 5")  # header, 2 lines of row 1, a blank line


def test_duplicate_primary_keys_name_keys_and_lines(tmp_path: Path) -> None:
    message = read_error(write(tmp_path, "id,name\na,1\nb,2\na,3\nb,4\nc,5\na,6\n"))

    assert "primary key 'id' has 2 duplicated value(s)" in message
    assert "'a' (line 2, line 4, line 7)" in message
    assert "'b' (line 3, line 5)" in message
    assert "'c'" not in message


def test_many_duplicate_keys_are_truncated(tmp_path: Path) -> None:
    rows = "".join(f"k{i},x\nk{i},y\n" for i in range(8))
    message = read_error(write(tmp_path, "id,name\n" + rows))

    assert "has 8 duplicated value(s)" in message
    assert "'k4'" in message and "'k5'" not in message
    assert message.endswith("and 3 more")


def test_missing_source_column(tmp_path: Path) -> None:
    message = read_error(write(tmp_path, "id,name\n1,a\n"), source_column="source")

    assert "source column 'source' not found" in message
    assert "'id', 'name'" in message


@pytest.mark.parametrize("header", ["id,name,name", "id,name, name "])
def test_duplicated_column_name(tmp_path: Path, header: str) -> None:
    message = read_error(write(tmp_path, f"{header}\n1,a,b\n"))

    assert "duplicated column name 'name' (columns 2 and 3)" in message


def test_input_error_is_a_matcher_error(tmp_path: Path) -> None:
    with pytest.raises(MatcherError):
        read_raw_table(tmp_path / "absent.parquet")


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"id": ["a", "b", "c"], "name": ["Zoë", None, ""], "score": [1.0, 0.30000000000000004, np.nan]}),
    pd.DataFrame({"id": ["a", "b"], "name": ["Smith, John", 'say "hi"']}),  # needs quotes: pandas writes it
    pd.DataFrame({"id": ["a", "b"], "n": [1, 2]}),  # integers: pandas writes it
    pd.DataFrame({"id": pd.Series(["a", None], dtype=object)}),  # one column: a lone empty value is ""
    pd.DataFrame({"id": ["a"], "s": pd.array([None], dtype="string")}),  # pd.NA strings
    pd.DataFrame({"id": ["a", "b"], "x": np.array([0.1, 1e-7], dtype=np.float32)}),  # pandas writes 0.1
    pd.DataFrame({"id": ["a", "b", "c"], "score": [0.5, 0.5, np.nan]}),  # repeated and missing scores
])
def test_csv_output_is_byte_for_byte_what_pandas_writes(tmp_path: Path, frame: pd.DataFrame) -> None:
    """The fast Arrow writer is used only where it matches pandas exactly; everything else goes to pandas.
    The frame converted to Arrow once (FIND_MATCHES writes CSV and Parquet from one conversion) writes the same."""
    expected = frame.to_csv(index=False, lineterminator="\n").encode()
    write_table(frame, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == expected
    table = to_arrow(frame)
    assert table is not None
    write_table(table, tmp_path / "arrow.csv")
    assert (tmp_path / "arrow.csv").read_bytes() == expected
    write_table(table, tmp_path / "arrow.parquet")
    write_table(frame, tmp_path / "frame.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "arrow.parquet"),
                                  pd.read_parquet(tmp_path / "frame.parquet"))


def test_frames_arrow_cannot_hold_stay_frames() -> None:
    assert to_arrow(pd.DataFrame({"id": ["a", "b"], "mixed": ["x", 1]})) is None


def test_plain_text_tables_take_the_fast_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "name": ["Zoë", None], "score": [1.0, 0.5]})
    expected = frame.to_csv(index=False, lineterminator="\n").encode()
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: pytest.fail("pandas' writer was used"))
    write_table(frame, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == expected


def test_a_value_needing_quotes_is_found_in_any_chunk_or_slice(tmp_path: Path) -> None:
    """The quote check reads the data buffers: of every chunk, within the slice's own offsets."""
    table = pa.table({"id": pa.chunked_array([["a", "b"], ["c", 'd "e"']]), "x": [1.0, 2.0, 3.0, 4.0]})
    for data, name in ((table, "chunks.csv"), (table.slice(2), "slice.csv")):
        write_table(data, tmp_path / name)
        expected = data.to_pandas().to_csv(index=False, lineterminator="\n").encode()
        assert (tmp_path / name).read_bytes() == expected
    write_table(table.slice(0, 3), tmp_path / "clean.csv")  # the quoted value lies past this slice
    assert (tmp_path / "clean.csv").read_bytes() == b"id,x\na,1.0\nb,2.0\nc,3.0\n"
