"""The web console's session record and the SQL both backends read it with (the same
tables and columns on SQLite and PostgreSQL, `ui_sessions` joined with `api_keys`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from nexio_lite.models import ApiKey
from nexio_lite.store.rows import KEY_COLUMNS, key_from_row

# The session's own columns, then the key's (KEY_COLUMNS, each prefixed with `k.`).
SESSION_SELECT = (
    "SELECT s.id, s.created_at, s.expires_at, "
    + ", ".join(f"k.{column.strip()}" for column in KEY_COLUMNS.split(","))
    + " FROM ui_sessions s JOIN api_keys k ON k.id = s.key_id"
)
SESSION_COLUMNS = 3


@attrs.frozen
class UiSession:
    """A signed-in console session: `id` is the SHA-256 of its token (hex); `key` is the
    API key it acts with, as stored now (revoked or not: the caller decides)."""

    id: str
    key: ApiKey
    created_at: int
    expires_at: int


def session_from_row(row: Sequence[Any]) -> UiSession:
    """A UiSession from a row read with SESSION_SELECT."""
    return UiSession(
        id=row[0],
        created_at=int(row[1]),
        expires_at=int(row[2]),
        key=key_from_row(row[SESSION_COLUMNS:]),
    )
