"""The settings object: the one config of record, serialised as JSON.

Everything the engine decides automatically (column types, comparators) lands here, so a user can
save it, edit one column and run again with exactly the same behaviour.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from matcher import column_types
from matcher.decision import Decision, unit_interval
from matcher.errors import SettingsError, shown
from matcher.extra_comparators import ExtraComparator, parse_all


@dataclass
class ColumnSettings:
    """How one data column is compared and whether it feeds blocking keys."""

    name: str
    type: str
    blocking: bool = True

    def __post_init__(self) -> None:
        if self.type not in column_types.names():
            raise SettingsError(f"column {shown(self.name)}: unknown type {shown(self.type)}; "
                                f"use one of {column_types.names()}")


@dataclass
class Settings:
    """All knobs of one matching job.

    precision_recall_tradeoff: the decision threshold on the match probability (1 favours precision); 0.5 is the
        balanced threshold, see ``Matcher.threshold``.
    accuracy_cost_tradeoff: how wide the candidate search is (1 favours accuracy, more pairs, slower).
    """

    primary_key: str
    source_column: str | None = None
    columns: list[ColumnSettings] = field(default_factory=list)
    precision_recall_tradeoff: float = 0.5
    accuracy_cost_tradeoff: float = 0.5
    enforce_labels: bool = False
    one_to_one: bool | None = None  # linkage: None decides from the data and labels (matcher.link_mode)
    max_cluster_size: int | None = None  # no cap by default: entities of thousands of records stay whole
    seed: int = 0
    # golden records: column -> {"rule": ..., ...} (``matcher.survivorship``); other columns: their type's default
    survivorship: dict[str, dict[str, Any]] = field(default_factory=dict)
    # recordlinkage compare features, each one more classifier feature (``matcher.extra_comparators``)
    extra_comparators: list[ExtraComparator] = field(default_factory=list)

    def __post_init__(self) -> None:
        unit_interval("accuracy_cost_tradeoff", self.accuracy_cost_tradeoff)
        Decision.from_settings(self)  # the knobs that act after the fit, validated where every decision is
        self.columns = [c if isinstance(c, ColumnSettings) else ColumnSettings(**c) for c in self.columns]
        if not isinstance(self.survivorship, dict):
            raise SettingsError(f"survivorship must be an object of column -> rule, got {shown(self.survivorship)}")
        self.extra_comparators = parse_all(self.extra_comparators)

    @property
    def data_columns(self) -> list[ColumnSettings]:
        return [c for c in self.columns if c.type != column_types.IGNORE]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.extra_comparators:  # settings files without extras read as before
            del out["extra_comparators"]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown settings keys: {', '.join(unknown)}")
        if "primary_key" not in data:
            raise SettingsError("settings need a primary_key")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SettingsError(f"invalid settings: {exc}") from exc

    @classmethod
    def from_json_file(cls, path: str | Path) -> Settings:
        return cls.from_dict(read_json_object(path, "settings"))


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON file holding an object (settings, survivorship rules), else a SettingsError naming ``what``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{what} {path} must hold a JSON object")
    return data
