"""Numbered migrations (`store/postgres/sql/NNNN_name.sql`), applied at start under a
session advisory lock so that any number of processes may start at once on a fresh
database: the first applies what is pending, the others wait for the lock and find
nothing left to do. Each migration runs in its own transaction together with its row in
`schema_migrations`."""

from __future__ import annotations

from importlib import resources

import psycopg

# pg_advisory_lock key of the migrations: "nexio_mg" read as a big-endian integer.
MIGRATION_LOCK = int.from_bytes(b"nexio_mg")

CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
RECORD_MIGRATION = (
    "INSERT INTO schema_migrations (version, name, applied_at) "
    "VALUES (%s, %s, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))"
)
# A write that is rolled back: refused at once by a read-only database or role.
PROBE_WRITE = "UPDATE schema_migrations SET name = name WHERE false"


def migrations() -> list[tuple[int, str, str]]:
    """The numbered SQL files of `store/postgres/sql/`, in order: (number, name, sql)."""
    found = []
    for entry in resources.files("nexio_lite.store.postgres").joinpath("sql").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found)


async def migrate(conn: psycopg.AsyncConnection) -> list[int]:
    """Apply the pending migrations on `conn` (autocommit) under the migration lock, then
    check that the database takes writes. Returns the numbers applied now."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(CREATE_MIGRATIONS)
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        applied = []
        for number, name, sql in migrations():
            if number in done:
                continue
            async with conn.transaction():
                await conn.execute(sql.encode())
                await conn.execute(RECORD_MIGRATION, (number, name))
            applied.append(number)
        async with conn.transaction(force_rollback=True):
            await conn.execute(PROBE_WRITE)
        return applied
    finally:
        if not conn.closed:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
