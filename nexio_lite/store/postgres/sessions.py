"""Web console sessions and the console's signing secret (PostgreSQL)."""

from __future__ import annotations

from nexio_lite.store.postgres.core import PostgresBase, unstorable
from nexio_lite.store.session_rows import SESSION_SELECT, UiSession, session_from_row

# One statement: the secret already stored, or `candidate`, stored now (two processes
# starting at once on a fresh database both get the one that won).
UI_SECRET = (
    "WITH added AS (INSERT INTO ui_secrets (name, value, created_at) "
    "VALUES ('session', %s, %s) ON CONFLICT (name) DO NOTHING RETURNING value) "
    "SELECT value FROM added UNION ALL SELECT value FROM ui_secrets WHERE name='session'"
)


class SessionsMixin(PostgresBase):
    async def create_session(
        self, session_id: str, key_id: str, org_id: str, now: int, expires_at: int
    ) -> None:
        await self._exec(
            "INSERT INTO ui_sessions (id, key_id, org_id, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (session_id, key_id, org_id, now, expires_at),
        )

    async def get_session(self, session_id: str, now: int) -> UiSession | None:
        if unstorable(session_id):
            return None
        row = await self._read_one(
            f"{SESSION_SELECT} WHERE s.id=%s AND s.expires_at > %s", (session_id, now)
        )
        return session_from_row(row) if row else None

    async def delete_session(self, session_id: str) -> bool:
        if unstorable(session_id):
            return False
        return bool(await self._exec("DELETE FROM ui_sessions WHERE id=%s", (session_id,)))

    async def purge_sessions(self, now: int) -> int:
        return await self._exec("DELETE FROM ui_sessions WHERE expires_at <= %s", (now,))

    async def ui_secret(self, candidate: str, now: int) -> str:
        rows = await self._fetch(UI_SECRET, (candidate, now))
        if not rows:  # the row that won was not yet visible to this snapshot: read again
            row = await self._read_one("SELECT value FROM ui_secrets WHERE name='session'")
            assert row is not None
            return str(row[0])
        return str(rows[0][0])
