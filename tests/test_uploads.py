"""Uploads refused with the line to fix (issue 15): rows with too few fields were padded silently, NUL bytes were
found only in the first 8 KB. Lines are 1-based with the header as line 1, everywhere ("line", never "row").
Through the REST API (datasets and labels files) and the ``matcher`` CLI.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from api_support import Api, count_runs, files_in, is_problem, labels_csv, people_csv, people_frame, sqlite_api
from cli_support import assert_one_line_error, run


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def post_labels(api: Api, tid: str, data: bytes) -> object:
    return api.call("POST", f"/transforms/{tid}/labels", data={"file": (io.BytesIO(data), "labels.csv")},
                    content_type="multipart/form-data")


def cut_short(csv_bytes: bytes, line: int) -> bytes:
    """The file with its ``line`` (1-based) cut after its second field."""
    lines = csv_bytes.split(b"\n")
    lines[line - 1] = b",".join(lines[line - 1].split(b",")[:2])
    return b"\n".join(lines)


def assert_left_nothing(api: Api) -> None:
    assert api.call("GET", "/datasets").get_json()["datasets"] == []
    assert files_in(api.config.data_dir / "uploads") == [] and files_in(api.config.data_dir / "datasets") == []


# -- too few fields ---------------------------------------------------------------------------------------------


def test_a_row_with_too_few_fields_is_refused_naming_its_line(api: Api) -> None:
    body = is_problem(api.upload(cut_short(people_csv(30), 7)), 400)
    assert "line 7 has 2" in body["detail"] and "header's 9" in body["detail"] and "row" not in body["detail"]
    assert_left_nothing(api)


def test_lines_count_the_header_and_quoted_line_breaks(api: Api) -> None:
    frame = people_frame(10)
    frame.loc[1, "street_address"] = "1 High St\nFlat 2"  # data row 2 spans lines 3 and 4
    data = cut_short(frame.to_csv(index=False).encode(), 9)  # data row 7
    detail = is_problem(api.upload(data), 400)["detail"]
    assert "1 line(s) have fewer fields" in detail and "line 9 has 2" in detail


def test_many_short_lines_are_listed_up_to_five(api: Api) -> None:
    data = people_csv(30)
    for line in (3, 5, 8, 13, 21, 30):
        data = cut_short(data, line)
    detail = is_problem(api.upload(data), 400)["detail"]
    assert detail.count("line ") == 5 and "line 21 has 2 and 1 more" in detail and "6 line(s)" in detail


def test_empty_fields_with_their_commas_and_blank_lines_are_fine(api: Api) -> None:
    frame = people_frame(10)
    frame.loc[3, ["email", "phone"]] = ""  # written as ",," at the end of the line
    data = frame.to_csv(index=False).encode() + b"\n\n"
    data = data.replace(b"\n", b"\n\n", 1)  # a blank line after the header
    response = api.upload(data)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["row_count"] == 10


def test_a_labels_file_with_a_short_row_is_refused_and_starts_no_run(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    data = labels_csv([("s1", "A", keys[0]), ("s1", "A", keys[1]), ("s1", "B", keys[2])])
    body = is_problem(post_labels(api, tid, cut_short(data, 3)), 400)
    assert "line 3 has 2" in body["detail"] and "row" not in body["detail"]
    assert count_runs(api.db) == 0 and files_in(api.config.data_dir / "uploads") == []


def test_the_cli_refuses_a_short_row_with_its_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(cut_short(people_csv(30), 12))
    code, out, err = run(capsys, "match", path, "--primary-key", "id", "--output", tmp_path / "out.csv")
    assert_one_line_error(code, out, err, "line 12 has 2")
    assert not (tmp_path / "out.csv").exists()


# -- NUL bytes --------------------------------------------------------------------------------------------------


def with_nul_at_line(line: int) -> bytes:
    """The 600 people (~45 KB) with a NUL byte in ``line``."""
    lines = people_csv(600).split(b"\n")
    lines[line - 1] = lines[line - 1].replace(b",", b",\x00", 1)
    return b"\n".join(lines)


def test_a_nul_byte_anywhere_in_a_dataset_is_refused_with_its_line(api: Api) -> None:
    data = with_nul_at_line(500)
    assert data.index(b"\x00") > 8192
    body = is_problem(api.upload(data), 415, "file")
    assert "line 500 holds a NUL byte" in body["detail"] and "people.csv" in body["detail"]
    assert_left_nothing(api)


def test_a_nul_byte_past_the_first_megabyte_chunk_names_its_line(api: Api) -> None:
    data = people_csv(600) * 20  # ~1.3 MB: the NUL sits in the second chunk read
    lines = data.split(b"\n")
    lines[-5] = lines[-5] + b"\x00"
    data = b"\n".join(lines)
    assert data.index(b"\x00") > 1024 * 1024
    detail = is_problem(api.upload(data), 415, "file")["detail"]
    assert f"line {len(lines) - 4} holds a NUL byte" in detail


def test_a_nul_byte_in_a_labels_file_is_refused_with_its_line(api: Api) -> None:
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    rows = [(f"s{i}", "A", keys[i % 30]) for i in range(900)]
    data = labels_csv(rows).replace(f"s800,A,{keys[800 % 30]}".encode(), f"s800,A\x00,{keys[800 % 30]}".encode())
    body = is_problem(post_labels(api, tid, data), 415, "file")
    assert "line 802 holds a NUL byte" in body["detail"]
    assert count_runs(api.db) == 0 and files_in(api.config.data_dir / "uploads") == []


def test_utf16_files_are_still_read_and_a_nul_character_in_them_is_refused(api: Api) -> None:
    text = people_csv(20).decode()
    response = api.upload(text.encode("utf-16"))
    assert response.status_code == 201, response.get_json()
    broken = text.replace("\n", "\n\x00", 4).replace("\n\x00", "\n", 3)  # a NUL starting line 5
    body = is_problem(api.upload(broken.encode("utf-16"), "broken.csv"), 400)
    assert "line 5 holds a NUL character" in body["detail"] and "broken.csv" in body["detail"]
