"""Loading one row by id, the same way for every resource: a detached instance, or NotFound naming it."""

from __future__ import annotations

from typing import TypeVar

from services.errors import NotFound
from storage.db import Database

Row = TypeVar("Row")


def get_or_404(db: Database, model: type[Row], row_id: str, what: str) -> Row:
    """``what`` names the resource in the message, e.g. 'task run' -> 'task run 42 not found'."""
    with db.session() as session:
        row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row
