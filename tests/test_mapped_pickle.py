"""storage.mapped_pickle: what a plain pickle gives back, with the arrays mapped from the file, writable in
memory only, and clear errors for files that are not such pickles or are cut short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from storage import mapped_pickle


def roundtrip(obj: object, path: Path) -> object:
    with path.open("wb") as handle:
        mapped_pickle.dump(obj, handle)
    return mapped_pickle.load(path)


def test_arrays_frames_and_objects_come_back_equal_and_writable_in_memory_only(tmp_path: Path) -> None:
    big = np.arange(1_000_003, dtype=np.int64)
    obj = {"big": big, "strided": big[::3], "floats": np.linspace(0, 1, 7, dtype=np.float32),
           "objects": np.array(["a", None, "ç"], dtype=object), "empty": np.empty((0, 4)),
           "frame": pd.DataFrame({"x": [1.5, np.nan], "s": ["p", "q"]}), "text": "ok"}
    path = tmp_path / "fit"
    back = roundtrip(obj, path)
    assert isinstance(back, dict) and set(back) == set(obj)
    for key in ("big", "strided", "floats", "empty"):
        np.testing.assert_array_equal(back[key], obj[key])
        assert back[key].dtype == obj[key].dtype
    assert back["objects"].tolist() == ["a", None, "ç"] and back["text"] == "ok"
    pd.testing.assert_frame_equal(back["frame"], obj["frame"])
    on_disk = path.read_bytes()
    back["big"][:10] = -1  # a private mapping: the process sees its write, the file does not
    assert back["big"][0] == -1 and path.read_bytes() == on_disk
    assert roundtrip(obj, tmp_path / "again")["big"][0] == 0


def test_other_files_and_cut_files_are_value_errors(tmp_path: Path) -> None:
    path = tmp_path / "fit"
    with path.open("wb") as handle:
        mapped_pickle.dump({"a": np.arange(100_000)}, handle)
    whole = path.read_bytes()
    for cut in (len(mapped_pickle.MAGIC) + 4, len(whole) - 1000):
        path.write_bytes(whole[:cut])
        with pytest.raises(ValueError, match="cut short"):
            mapped_pickle.load(path)
    path.write_bytes(b"\x80\x05plain pickle")
    with pytest.raises(ValueError, match="not a mapped pickle"):
        mapped_pickle.load(path)
