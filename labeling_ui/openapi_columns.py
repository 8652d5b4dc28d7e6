"""The OpenAPI description of the column types (``GET /column-types``, a transform's ``column_types`` and
``columns``), built from the registry (``matcher.column_types``) each time the document is served: a type
registered there is documented and accepted with nothing written here."""

from __future__ import annotations

from typing import Any

from labeling_ui.openapi_parts import BOOL, STR
from labeling_ui.openapi_parts import obj as _obj
from labeling_ui.openapi_parts import ref as _ref
from matcher import column_types


def type_name() -> dict[str, Any]:
    return {"type": "string", "enum": list(column_types.names())}


def choices_field() -> dict[str, Any]:
    """A transform's ``column_types`` (create, PATCH and answers alike)."""
    return {"type": ["object", "null"], "additionalProperties": type_name(),
            "description": "column -> type (GET /column-types), overriding the automatic profile's guess; columns "
                           "not named keep the guess; null: every column guessed. A PATCH replaces the whole object"}


def column_paths(op: Any, json: Any) -> dict[str, Any]:
    """``op`` and ``json`` are labeling_ui.openapi's helpers (one error table)."""
    return {"/column-types": {"get": op("The types a transform's columns may have, with what each does",
                                        {"200": json("ColumnTypeList", "Column types")}, "401")}}


def column_schemas() -> dict[str, Any]:
    return {
        "ColumnType": _obj({"name": type_name(), "label": STR, "description": STR}, ("name", "label", "description")),
        "ColumnTypeList": _obj({"column_types": {"type": "array", "items": _ref("ColumnType")}}, ("column_types",)),
        "ColumnInUse": _obj({"name": STR, "type": type_name(),
                             "chosen": {**BOOL, "description": "set in column_types; false: the profile's guess "
                                                               "when the dataset was uploaded"}},
                            ("name", "type", "chosen")),
    }
