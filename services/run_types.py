"""The task-run types, each described once: its handler, the params a user may pass, whether a user may start it
from the API, whether it needs labels, and what it publishes. The API's checks, the OpenAPI document, the output
download and the engine all read ``REGISTRY``, so a new type is one entry here plus its handler function.

The handler is named ("module:function"), not imported: handlers need the whole service (clusters, labels,
run context), which itself validates against this registry, so a direct reference would close an import circle.
The engine resolves the name when a run executes; only modules of ``services`` may be named (the layer rule).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matcher.active import MAX_SET, MIN_SET
from matcher.errors import shown
from services import validation as v
from services.errors import ValidationError

if TYPE_CHECKING:
    from services.run_context import Outcome, RunContext

HANDLER_PACKAGE = "services."


@dataclass(frozen=True)
class IntParam:
    """An integer param in [low, high]; ``default`` when the run was started without it."""

    name: str
    low: int
    high: int
    default: int
    description: str

    def check(self, value: Any) -> int:
        """The value a user sent, as the int the handler will read (422 naming ``params.<name>`` otherwise)."""
        try:
            return v.integer({self.name: value}, self.name, self.low, self.high)
        except ValidationError as exc:
            raise ValidationError(exc.detail, field=f"params.{self.name}") from None

    def read(self, params: dict[str, Any]) -> int:
        """The value a handler uses: what the run was started with, else the default."""
        value = params.get(self.name, self.default)
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValidationError(f"{self.name} must be an integer from {self.low} to {self.high}, "
                                  f"got {shown(value)}", field=self.name)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high, "default": self.default,
                "description": self.description}


@dataclass(frozen=True)
class DatasetParam:
    """A required param naming an uploaded dataset (``POST /datasets``) by its id; the service that starts the
    run checks that the dataset exists and fits the transform (``services.entity_stores.check_batch``)."""

    name: str
    description: str
    required: bool = True

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
            raise ValidationError(f"{self.name} must be a dataset id (1 to {MAX_ID} characters), got {shown(value)}",
                                  field=f"params.{self.name}")
        return value

    def read(self, params: dict[str, Any]) -> str:
        value = params.get(self.name)
        if not isinstance(value, str) or not value:
            raise ValidationError(f"the run has no {self.name}", field=self.name)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": MAX_ID, "description": self.description}


MAX_ID = 36
Param = IntParam | DatasetParam


@dataclass(frozen=True)
class RunType:
    name: str  # stored in task_runs.type
    label: str  # what a person reads (the runs page)
    handler: str  # "services.module:function" taking a RunContext and returning an Outcome
    startable: bool  # a user may start it with POST /transforms/{id}/task-runs (else another endpoint starts it)
    output: str  # the file of those it publishes that the output endpoint serves, e.g. "matches.csv"
    formats: tuple[str, ...]  # what ``GET .../output?format=`` offers (always: the file as published, no format)
    params: tuple[Param, ...] = ()
    needs_labels: bool = False  # refused (409) while the transform has no labels
    needs_store: bool = False  # refused (409) while the transform has no entity store (no FIND_MATCHES yet)
    files: tuple[str, ...] = ()  # other published files ``GET .../output?file=<stem>`` serves, e.g. "changes.csv"

    @property
    def output_format(self) -> str:
        return self.output.rsplit(".", 1)[-1]

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if isinstance(p, DatasetParam) and p.required)

    def file(self, stem: str) -> str | None:
        """The published file named by ``stem`` (``changes`` -> ``changes.csv``), None if the type has none."""
        return next((name for name in self.files if name.rsplit(".", 1)[0] == stem), None)

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        accepted = {p.name: p for p in self.params}
        for key in params:
            if key not in accepted:
                names = ", ".join(accepted) or "none"
                raise ValidationError(f"unknown param {shown(key)} for {self.name}; accepted: {names}",
                                      field=f"params.{key}")
        return {key: accepted[key].check(value) for key, value in params.items()}

    def resolve_handler(self) -> Callable[[RunContext], Outcome]:
        module, _, function = self.handler.partition(":")
        if not module.startswith(HANDLER_PACKAGE) or not function:
            raise ValueError(f"handler of {self.name} must be 'services.<module>:<function>', got {self.handler!r}")
        handler: Callable[[RunContext], Outcome] = getattr(importlib.import_module(module), function)
        return handler


CSV_ONLY = ("csv",)
STORE_FILES = ("changes.csv", "record_changes.csv")  # services.entity_stores: the run's changelogs
LABELING_SET_GENERATION = RunType(
    "LABELING_SET_GENERATION", "Labeling set generation", "services.task_types:labeling_set_generation",
    startable=True, output="labeling_set.csv", formats=CSV_ONLY,
    files=("auto_labeling.json",),  # what the machine labeled, when the labeling policy asks it to
    params=(IntParam("num_sets", 1, 1000, 10, "labeling sets to propose"),
            IntParam("set_size", MIN_SET, MAX_SET, 12, "records per set"),
            IntParam("seed", 0, 2**31 - 1, 0, "random seed: the same seed proposes the same sets")))
EVALUATION = RunType("EVALUATION", "Evaluation", "services.task_types:evaluation", startable=True,
                     output="evaluation.json", formats=(), needs_labels=True)
FIND_MATCHES = RunType("FIND_MATCHES", "Find matches", "services.task_types:find_matches", startable=True,
                       output="matches.csv", formats=("csv", "parquet"), files=STORE_FILES)
# Matches an uploaded batch into the transform's entity store (services.entity_stores); 409 without a store.
FIND_INCREMENTAL_MATCHES = RunType(
    "FIND_INCREMENTAL_MATCHES", "Find incremental matches", "services.entity_stores:find_incremental_matches",
    startable=True, output="matches.csv", formats=("csv", "parquet"), files=STORE_FILES,
    params=(DatasetParam("dataset_id", "the batch: an uploaded dataset with the transform's columns"),),
    needs_store=True)
EXPORT_LABELS = RunType("EXPORT_LABELS", "Export labels", "services.task_types:export_labels", startable=True,
                        output="labels.csv", formats=CSV_ONLY)
# Started by a labels upload (services.labels), which validates the file first.
IMPORT_LABELS = RunType("IMPORT_LABELS", "Import labels", "services.task_types:import_labels", startable=False,
                        output="import_summary.json", formats=())

REGISTRY: dict[str, RunType] = {t.name: t for t in
                                (LABELING_SET_GENERATION, EVALUATION, FIND_MATCHES, FIND_INCREMENTAL_MATCHES,
                                 EXPORT_LABELS, IMPORT_LABELS)}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def startable() -> tuple[str, ...]:
    return tuple(name for name, run_type in REGISTRY.items() if run_type.startable)


def get(name: Any) -> RunType:
    """The registered type, or a 422 naming the ``type`` field."""
    run_type = REGISTRY.get(name) if isinstance(name, str) else None
    if run_type is None:
        raise ValidationError(f"unknown task run type {shown(name)}; known: {', '.join(REGISTRY)}", field="type")
    return run_type


def download_formats() -> tuple[str, ...]:
    """Every format some type's output can be asked for, in first-seen order."""
    return tuple(dict.fromkeys(fmt for run_type in REGISTRY.values() for fmt in run_type.formats))


def file_stems() -> tuple[str, ...]:
    """Every ``file=`` the output endpoint may be asked for, in first-seen order."""
    return tuple(dict.fromkeys(name.rsplit(".", 1)[0] for run_type in REGISTRY.values() for name in run_type.files))


def offering(fmt: str) -> tuple[str, ...]:
    """The types whose output can be asked for in this format."""
    return tuple(name for name, run_type in REGISTRY.items() if fmt in run_type.formats)
