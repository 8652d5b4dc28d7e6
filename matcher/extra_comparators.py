"""recordlinkage compare features as extra comparators of the settings: each gives the classifier one more feature.

A settings entry names a class of the ``recordlinkage`` package and its keyword arguments::

    {"name": "surname_damerau", "feature": "recordlinkage.compare.String",
     "kwargs": {"left_on": "surname", "method": "damerau_levenshtein"}}

Only classes inside the ``recordlinkage`` namespace that are compare features (``BaseCompareFeature``) are
accepted, with JSON values as arguments: a settings file can choose among recordlinkage's comparisons, never run
code of its own. ``right_on`` defaults to ``left_on`` (we match one table; linkage is a source column in it), and
likewise for arguments such as Geographic's ``right_on_lat``.

The feature compares the raw values of the candidate pairs (``PreparedTable.raw_values``), through
``recordlinkage.Compare``; its output becomes the similarity ``"<name>:rl"`` (``"<name>:rl<i>"`` for the i-th
column of a feature giving several), which reaches the classifier's design matrix like every other similarity.
The unsupervised Fellegi-Sunter model reads levels of the data columns only, so extras act once labels train a
classifier. recordlinkage is imported when a fit meets an extra comparator, never before.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import pandas as pd

from matcher.errors import MissingDependency, SettingsError, shown

NAMESPACE = "recordlinkage"
INSTALL_HINT = "pip install recordlinkage (or pip install 'matcher[recordlinkage]'; it needs pandas<3)"
FEATURE_PATH = re.compile(r"^recordlinkage(\.[A-Za-z_]\w*)+$")
NAME = re.compile(r"^[A-Za-z_][\w\-]*$")  # no ':' (it separates name and measure) and no '~' (blocking keys)
JSON_VALUE = (str, int, float, bool, type(None), list, dict)


def import_recordlinkage() -> ModuleType:
    """The recordlinkage package, or a MissingDependency (an ImportError) saying how to install it."""
    try:
        return importlib.import_module(NAMESPACE)
    except ImportError as exc:
        raise MissingDependency(f"this needs the recordlinkage package: {INSTALL_HINT}") from exc


@dataclass(frozen=True)
class ExtraComparator:
    """One settings entry: ``feature`` (dotted path of a recordlinkage compare feature class) built with
    ``kwargs`` under ``name``."""

    name: str
    feature: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"extra comparator {shown(self.name)}"
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise SettingsError(f"{where}: name must be letters, digits, '_' or '-' (no ':' or '~')")
        if not isinstance(self.feature, str) or not FEATURE_PATH.match(self.feature):
            raise SettingsError(f"{where}: feature must be a class of the recordlinkage package, e.g. "
                                f"'recordlinkage.compare.String', got {shown(self.feature)}")
        if not isinstance(self.kwargs, dict) or not all(isinstance(k, str) for k in self.kwargs):
            raise SettingsError(f"{where}: kwargs must be an object of argument name -> value")
        bad = [k for k, v in self.kwargs.items() if not isinstance(v, JSON_VALUE)]
        if bad:
            raise SettingsError(f"{where}: kwargs {', '.join(map(shown, bad))} must be JSON values")
        if not any(_reads_columns(k) for k in self.kwargs):
            raise SettingsError(f"{where}: kwargs need the column to compare (left_on, or on)")

    @property
    def columns(self) -> list[str]:
        """The data columns the feature reads: its arguments ``on``, ``left_on*`` and ``right_on*`` (e.g.
        Geographic's ``left_on_lat``), each a name or a list of names."""
        names: list[str] = []
        for key, value in self.kwargs.items():
            if _reads_columns(key):
                names += [str(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
        return list(dict.fromkeys(names))

    def build(self) -> Any:
        """The recordlinkage feature object; SettingsError when the class or its arguments do not fit."""
        cls = feature_class(self.feature, self.name)
        kwargs = dict(self.kwargs)
        params = inspect.signature(cls).parameters
        for key in list(kwargs):  # one table: the right side reads the left side's column unless told otherwise
            twin = "right_on" + key.removeprefix("left_on")
            if key.startswith("left_on") and twin in params and twin not in kwargs:
                kwargs[twin] = kwargs[key]
        try:
            inspect.signature(cls).bind(**kwargs)
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"extra comparator {shown(self.name)}: {self.feature}: {exc}") from exc


def _reads_columns(argument: str) -> bool:
    return argument == "on" or argument.startswith(("left_on", "right_on"))


def feature_class(path: str, name: str = "") -> type:
    """The recordlinkage compare feature class at ``path`` (a module of the package, then a class in it)."""
    rl = import_recordlinkage()
    base = importlib.import_module(f"{NAMESPACE}.base").BaseCompareFeature
    module_path, _, attr = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_path), attr) if module_path != NAMESPACE else \
            getattr(rl, attr)
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"extra comparator {shown(name)}: recordlinkage has no {shown(path)}") from exc
    if not (inspect.isclass(found) and issubclass(found, base)) or found is base:
        raise SettingsError(f"extra comparator {shown(name)}: {shown(path)} is not a recordlinkage compare "
                            "feature (a subclass of recordlinkage.base.BaseCompareFeature)")
    return found


def parse_all(entries: Any) -> list[ExtraComparator]:
    """The settings' ``extra_comparators`` list, each entry an ExtraComparator; names must be unique."""
    if not isinstance(entries, list):
        raise SettingsError(f"extra_comparators must be a list, got {shown(entries)}")
    out = []
    for entry in entries:
        if isinstance(entry, ExtraComparator):
            out.append(entry)
            continue
        if not isinstance(entry, dict) or set(entry) - {"name", "feature", "kwargs"} or \
                not {"name", "feature"} <= set(entry):
            raise SettingsError("each extra comparator is an object of name, feature and kwargs, got "
                                f"{shown(entry)}")
        out.append(ExtraComparator(**entry))
    names = [e.name for e in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SettingsError(f"extra comparator names must be unique: {', '.join(map(shown, twice))}")
    return out


def check_columns(extras: list[ExtraComparator], present: list[str]) -> None:
    """Each extra reads columns the data has, and is not named like one (explanations name both)."""
    for extra in extras:
        if extra.name in present:
            raise SettingsError(f"extra comparator {shown(extra.name)} has the name of a column of the data")
        missing = [c for c in extra.columns if c not in present]
        if missing:
            raise SettingsError(f"extra comparator {shown(extra.name)} reads column {shown(missing[0])} which "
                                "the data does not have")


class ComparedTable(Protocol):
    """What ``similarities`` reads of a ``matcher.table.PreparedTable`` (which names this module's type: naming
    it back would close a circle of imports)."""

    @property
    def n(self) -> int: ...

    @property
    def extra_comparators(self) -> list[ExtraComparator]: ...

    @property
    def raw_values(self) -> dict[str, np.ndarray]: ...


def similarities(table: ComparedTable, left: np.ndarray, right: np.ndarray) -> dict[str, np.ndarray]:
    """Each extra comparator's output on the pairs (row positions), as float32 similarities."""
    if not table.extra_comparators:
        return {}
    rl = import_recordlinkage()
    frame = pd.DataFrame(table.raw_values)  # rows 0..n-1: the index labels are the row positions
    pairs = pd.MultiIndex.from_arrays([np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)])
    rows = len(pairs)
    if rows == 0 and table.n:  # one pair computed and dropped: a feature's width shows only in its output
        pairs = pd.MultiIndex.from_arrays([np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)])
    out: dict[str, np.ndarray] = {}
    for extra in table.extra_comparators:
        try:
            result = rl.Compare([extra.build()]).compute(pairs, frame)
        except (ValueError, TypeError, KeyError) as exc:  # e.g. String(method="nope"): known only when it runs
            raise SettingsError(f"extra comparator {shown(extra.name)}: {extra.feature}: {exc}") from exc
        values = result.to_numpy(dtype=np.float64, na_value=np.nan)[:rows]
        for i in range(values.shape[1]):
            out[f"{extra.name}:rl{i if i else ''}"] = values[:, i].astype(np.float32)
    return out
