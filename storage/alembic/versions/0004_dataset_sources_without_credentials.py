"""datasets.source of a database table keeps no credentials: the URL without password or query options.

Older versions masked the password of ``user:password@host`` but kept the query string, where drivers also
take one (``?password=...``), and every user, labelers included, reads a dataset's source. Nothing to undo:
a downgrade leaves the cleaned sources as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATABASE_SOURCE = re.compile(r"^[A-Za-z0-9_+]+://")  # a table's source is URL#table; an upload's, a file name


def clean_source(source: str) -> str:
    url_text, hash_, table = source.rpartition("#")
    if not hash_ or not DATABASE_SOURCE.match(url_text):
        return source
    try:
        url = make_url(url_text)
    except (ArgumentError, ValueError):
        return source
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
    return f"{bare.render_as_string()}#{table}"


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, source FROM datasets WHERE source LIKE '%://%'")).all()
    for dataset_id, source in rows:
        cleaned = clean_source(source)
        if cleaned != source:
            connection.execute(sa.text("UPDATE datasets SET source = :source WHERE id = :id"),
                               {"source": cleaned, "id": dataset_id})


def downgrade() -> None:
    pass  # the credentials are gone for good, as they should be
