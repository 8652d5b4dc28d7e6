"""The small pieces every OpenAPI module of the web layer builds its schemas from (one copy, not one per module)."""

from __future__ import annotations

from typing import Any

STR, NSTR, INT, BOOL = {"type": "string"}, {"type": ["string", "null"]}, {"type": "integer"}, {"type": "boolean"}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}
