"""Large and pathological uploads (issue 15): a size limit answered 413 before the body is read, column and line
limits refused before parsing, ragged lines explained with their line across the chunks of a large file, and the
columns that could be the primary key found at upload. Through the REST API; the dataset page's text is in
tests/test_ui_browser.py. Memory is measured in bench/upload_memory.py, not here.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from api_support import Api, files_in, is_problem, people_csv, people_frame, sqlite_api

ROWS = 100_000  # ~9 MB: several of the reader's chunks (400,000 cells each, ~44,000 rows of 9 columns)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def assert_left_nothing(api: Api) -> None:
    assert api.call("GET", "/datasets").get_json()["datasets"] == []
    assert files_in(api.config.data_dir / "uploads") == [] and files_in(api.config.data_dir / "datasets") == []


def large_people(rows: int = ROWS) -> pd.DataFrame:
    """The people sample repeated to ``rows`` rows, with a unique id; its line in the file is row + 2."""
    base = people_frame(1000)
    frame = pd.concat([base] * (rows // len(base) + 1), ignore_index=True).head(rows)
    frame["id"] = [f"p{i}" for i in range(rows)]
    return frame


def csv_lines(frame: pd.DataFrame) -> list[bytes]:
    return frame.to_csv(index=False).encode().split(b"\n")


class CountingStream(io.BytesIO):
    """A request body that counts what the server read of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def multipart(data: bytes, filename: str = "people.csv") -> tuple[bytes, str]:
    boundary = "matcher-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# -- the size limit ------------------------------------------------------------------------------------------


def test_an_upload_over_the_size_limit_is_413_naming_the_limit_before_its_body_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_MAX_UPLOAD_MB", "1")
    api = sqlite_api(tmp_path)
    body, content_type = multipart(people_csv(1000) * 20)
    assert len(body) > 1024 * 1024
    stream = CountingStream(body)
    response = api.call("POST", "/datasets", input_stream=stream, content_type=content_type,
                        headers={"Content-Length": str(len(body))})
    problem = is_problem(response, 413, "file")
    assert "limit of 1 MB" in problem["detail"] and "MATCHER_MAX_UPLOAD_MB" in problem["detail"]
    assert stream.read_bytes == 0
    assert_left_nothing(api)


def test_a_chunked_upload_without_a_length_is_cut_at_the_limit_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_MAX_UPLOAD_MB", "1")
    api = sqlite_api(tmp_path)
    body, content_type = multipart(people_csv(1000) * 30)
    stream = CountingStream(body)
    response = api.call("POST", "/datasets", input_stream=stream, content_type=content_type,
                        headers={"Transfer-Encoding": "chunked"},
                        environ_overrides={"wsgi.input_terminated": True})  # as gunicorn says of a chunked body
    assert "limit of 1 MB" in is_problem(response, 413, "file")["detail"]
    assert stream.read_bytes < len(body)
    assert_left_nothing(api)


def test_an_upload_under_the_limit_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_MAX_UPLOAD_MB", "1")
    response = sqlite_api(tmp_path).upload(people_csv(100))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["row_count"] == 100


# -- pathological shapes ---------------------------------------------------------------------------------------


def test_a_file_of_10000_columns_is_refused_naming_the_column_limit(api: Api) -> None:
    header = ",".join(f"c{i}" for i in range(10_000))
    row = ",".join(str(i) for i in range(10_000))
    detail = is_problem(api.upload(f"{header}\n{row}\n".encode(), "wide.csv"), 422, "file")["detail"]
    assert "wide.csv: 10,000 columns, over the limit of 1,000 (MATCHER_MAX_COLUMNS)" in detail
    assert_left_nothing(api)


def test_the_column_limit_is_configurable_and_applies_to_parquet(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_MAX_COLUMNS", "5")
    api = sqlite_api(tmp_path)
    assert "9 columns, over the limit of 5" in is_problem(api.upload(people_csv(10)), 422, "file")["detail"]
    path = tmp_path / "people.parquet"
    people_frame(10).to_parquet(path)
    assert "9 columns, over the limit of 5" in is_problem(api.upload(path.read_bytes(), "people.parquet"),
                                                          422, "file")["detail"]
    assert_left_nothing(api)


def test_a_line_over_the_line_limit_is_refused_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_MAX_LINE_KB", "2")
    api = sqlite_api(tmp_path)
    lines = people_csv(30).split(b"\n")
    lines[11] = lines[11].replace(b",", b"," + b"x" * 3000, 1)  # line 12: a 3 KB value
    body = is_problem(api.upload(b"\n".join(lines)), 422, "file")
    assert "line 12 is" in body["detail"] and "over the limit of 2 KB a line (MATCHER_MAX_LINE_KB)" in body["detail"]
    assert body["line"] == 12
    assert_left_nothing(api)


# -- ragged lines in a large file ----------------------------------------------------------------------------


def test_a_line_with_more_fields_deep_in_a_large_file_is_named_by_its_line(api: Api) -> None:
    frame = large_people()
    frame.loc[10, "street_address"] = "1 High St\nFlat 2"  # every later row is one line further down
    lines = csv_lines(frame)
    lines[95_000] += b",extra"  # line 95,001
    detail = is_problem(api.upload(b"\n".join(lines)), 400)["detail"]
    assert "line 95001 has 10 fields, more than the header's 9" in detail and "double quotes" in detail
    assert "row" not in detail
    assert_left_nothing(api)


def test_short_lines_in_several_chunks_are_all_counted_with_their_lines(api: Api) -> None:
    lines = csv_lines(large_people())
    for line in (3, 50_001, 99_001):
        lines[line - 1] = b",".join(lines[line - 1].split(b",")[:2])
    detail = is_problem(api.upload(b"\n".join(lines)), 400)["detail"]
    assert "3 line(s) have fewer fields than the header's 9" in detail
    assert "line 3 has 2, line 50001 has 2, line 99001 has 2" in detail
    assert_left_nothing(api)


def test_a_large_upload_keeps_every_row_and_its_line(api: Api) -> None:
    frame = large_people()
    frame.loc[60_000, "street_address"] = "1 High St\nFlat 2"
    response = api.upload(b"\n".join(csv_lines(frame)))
    assert response.status_code == 201, response.get_json()
    dataset_id = response.get_json()["id"]
    stored = pd.read_parquet(api.config.data_dir / "datasets" / f"{dataset_id}.parquet")
    assert len(stored) == ROWS and stored["id"].tolist() == frame["id"].tolist()
    lines = np.load(api.config.data_dir / "datasets" / f"{dataset_id}.lines.npy")
    assert lines[0] == 2 and lines[60_000] == 60_002 and lines[60_001] == 60_004 and lines[-1] == ROWS + 2


# -- the columns that could be the primary key -----------------------------------------------------------------


def unique_columns(body: dict[str, Any]) -> list[str]:
    return [c["name"] for c in body["columns"] if c["unique_non_empty"]]


def test_the_dataset_says_which_columns_are_unique_and_never_empty(api: Api) -> None:
    frame = people_frame(30)
    frame["serial"] = [f"s{i}" for i in range(30)]
    frame.loc[4, "serial"] = ""  # unique, but empty once
    frame["code"] = [f"c{i}" for i in range(30)]
    response = api.upload(frame.to_csv(index=False).encode())
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    expected = [c for c in frame.columns if c != "serial" and frame[c].ne("").all() and frame[c].is_unique]
    assert "id" in expected and "code" in expected and "first_name" not in expected
    assert unique_columns(created) == expected
    fetched = api.call("GET", f"/datasets/{created['id']}").get_json()
    assert unique_columns(fetched) == expected
    assert {c["name"]: c["unique_non_empty"] for c in fetched["columns"]}["serial"] is False


def test_a_value_repeated_across_chunks_of_a_large_file_is_noticed(api: Api) -> None:
    frame = large_people()
    frame["batch_id"] = [f"b{i % 50_000}" for i in range(ROWS)]  # unique within each chunk, not in the file
    frame["serial"] = [f"s{i}" for i in range(ROWS)]
    body = api.upload(frame.to_csv(index=False).encode()).get_json()
    assert unique_columns(body) == ["id", "serial"]
    assert files_in(api.config.data_dir / "datasets") == sorted(
        f"{body['id']}{suffix}" for suffix in (".facts.json", ".lines.npy", ".parquet"))


def test_a_parquet_upload_and_a_database_table_have_their_unique_columns_too(tmp_path: Path) -> None:
    exports = tmp_path / "exports"  # the operator allows SQLite files from here (MATCHER_SOURCE_SQLITE_DIR)
    exports.mkdir()
    api = sqlite_api(tmp_path / "service", source_sqlite_dir=exports)
    frame = people_frame(30)
    path = tmp_path / "people.parquet"
    frame.to_parquet(path)
    body = api.upload(path.read_bytes(), "people.parquet").get_json()
    assert "id" in unique_columns(body) and "first_name" not in unique_columns(body)
    url = f"sqlite:///{exports / 'source.sqlite'}"
    frame.to_sql("customers", sqlalchemy.create_engine(url), index=False)
    table = api.call("POST", "/datasets", json={"database_url": url, "table": "customers"}).get_json()
    assert unique_columns(table) == unique_columns(body)


def test_the_list_of_datasets_does_not_read_every_datasets_facts(api: Api) -> None:
    api.dataset()
    listed = api.call("GET", "/datasets").get_json()["datasets"]
    assert all("unique_non_empty" not in c for c in listed[0]["columns"])
