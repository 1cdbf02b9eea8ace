"""Web console sessions and the console's signing secret (SQLite)."""

from __future__ import annotations

import sqlite3

from nexio_lite.store.session_rows import SESSION_SELECT, UiSession, session_from_row
from nexio_lite.store.sqlite.core import SqliteBase, _fetchall


class SessionsMixin(SqliteBase):
    async def create_session(
        self, session_id: str, key_id: str, org_id: str, now: int, expires_at: int
    ) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO ui_sessions (id, key_id, org_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, key_id, org_id, now, expires_at),
            )

        await self._write(op)

    async def get_session(self, session_id: str, now: int) -> UiSession | None:
        row = await self._read_one(
            f"{SESSION_SELECT} WHERE s.id=? AND s.expires_at > ?", (session_id, now)
        )
        return session_from_row(row) if row else None

    async def delete_session(self, session_id: str) -> bool:
        def op(c: sqlite3.Connection) -> int:
            cur = c.execute("DELETE FROM ui_sessions WHERE id=?", (session_id,))
            return cur.rowcount

        return bool(await self._write(op))

    async def purge_sessions(self, now: int) -> int:
        def op(c: sqlite3.Connection) -> int:
            cur = c.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", (now,))
            return cur.rowcount

        return int(await self._write(op))

    async def ui_secret(self, candidate: str, now: int) -> str:
        def op(c: sqlite3.Connection) -> str:
            c.execute(
                "INSERT INTO ui_secrets (name, value, created_at) VALUES ('session', ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (candidate, now),
            )
            rows = _fetchall(c, "SELECT value FROM ui_secrets WHERE name='session'")
            return str(next(iter(rows))[0])

        return str(await self._write(op))
