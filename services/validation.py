"""Small checks for JSON request bodies; each failure names the field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from matcher.errors import shown
from services.errors import ValidationError


def require_object(data: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError(f"{what} must be a JSON object")
    return data


def only_fields(data: dict[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in data:
        if key not in allowed:
            raise ValidationError(f"unknown field {shown(key)}; expected some of: {', '.join(sorted(allowed))}",
                                  field=key)


def optional_text(data: dict[str, Any], key: str, max_length: int = 200) -> str | None:
    return None if data.get(key) is None else text(data, key, max_length)


def text(data: dict[str, Any], key: str, max_length: int = 200) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{key} must be a non-empty string", field=key)
    if len(value.strip()) > max_length:
        raise ValidationError(f"{key} must be at most {max_length} characters", field=key)
    return value.strip()


def unit_interval(data: dict[str, Any], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValidationError(f"{key} must be a number in [0, 1], got {shown(value)}", field=key)
    return float(value)


def integer(data: dict[str, Any], key: str, low: int, high: int) -> int:
    """An int in [low, high]; ``60.0`` counts (JSON Schema's integers are numbers without a fraction, and
    some clients serialize every number as a float), ``60.5``, ``true`` and ``"60"`` do not."""
    value = data[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{key} must be an integer in [{low}, {high}], got {shown(data[key])}", field=key)
    return value


def optional_flag(data: dict[str, Any], key: str) -> bool | None:
    """true, false, or null for "let the engine decide"."""
    return None if data[key] is None else flag(data, key)


def flag(data: dict[str, Any], key: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise ValidationError(f"{key} must be true or false, got {shown(value)}", field=key)
    return value
