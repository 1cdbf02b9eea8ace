"""Screening rule book versions (SCREEN.md §2), PostgreSQL.

Versions of one rule book are numbered as pool versions are (admin.py): under a
transaction-scoped advisory lock on (RULEBOOK_LOCK_CLASS, hashtext(org/rulebook)), taken
before the current version is read, so an import reads the version that the previous one
committed. Concurrent imports of one rule book get consecutive versions; identical ones
make a single version (a hash collision between two rule books only makes them wait for
each other; the primary key still forbids a duplicate)."""

from __future__ import annotations

import hashlib
from typing import Any

from nexio_lite.models import RulebookVersion
from nexio_lite.store.postgres.core import Conn, PostgresBase, unstorable

# The same columns in both backends (store/sqlite/rulebooks.py), in RulebookVersion's order.
RULEBOOK_COLUMNS = "org_id, rulebook_id, version, sha256, rules, regulations, created_at"
RULEBOOK_LOCK_CLASS = 0x6E72  # pool versions use 0x6E78
LOCK_RULEBOOK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
CURRENT_RULEBOOK = (
    f"SELECT {RULEBOOK_COLUMNS} FROM rulebook_versions "
    "WHERE org_id=%s AND rulebook_id=%s ORDER BY version DESC LIMIT 1"
)
INSERT_RULEBOOK = (
    f"INSERT INTO rulebook_versions ({RULEBOOK_COLUMNS}, data) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def check_digest(canonical: bytes, sha256: str) -> None:
    """`sha256` must be the digest of `canonical`: what is stored is what is named."""
    if hashlib.sha256(canonical).hexdigest() != sha256:
        raise ValueError("sha256 is not the digest of the rule book's canonical JSON")


class RulebooksMixin(PostgresBase):
    async def import_rulebook(
        self,
        org_id: str,
        rulebook_id: str,
        *,
        canonical: bytes,
        sha256: str,
        rules: int,
        regulations: int,
        now: int,
    ) -> RulebookVersion:
        check_digest(canonical, sha256)

        async def op(c: Conn) -> tuple[Any, ...]:
            await c.execute(LOCK_RULEBOOK, (RULEBOOK_LOCK_CLASS, f"{org_id}/{rulebook_id}"))
            cur = await c.execute(CURRENT_RULEBOOK, (org_id, rulebook_id))
            current = await cur.fetchone()
            if current is not None and current[3] == sha256:
                return tuple(current)  # the same content: no new version
            version = 1 if current is None else int(current[2]) + 1
            row = (org_id, rulebook_id, version, sha256, rules, regulations, now)
            await c.execute(INSERT_RULEBOOK, (*row, canonical))
            return row

        return RulebookVersion(*await self._run(op))

    async def current_rulebook(self, org_id: str, rulebook_id: str) -> RulebookVersion | None:
        if unstorable(org_id, rulebook_id):
            return None
        row = await self._read_one(CURRENT_RULEBOOK, (org_id, rulebook_id))
        return RulebookVersion(*row) if row else None

    async def rulebook_version(
        self, org_id: str, rulebook_id: str, version: int
    ) -> tuple[RulebookVersion, bytes] | None:
        if unstorable(org_id, rulebook_id):
            return None
        row = await self._read_one(
            f"SELECT {RULEBOOK_COLUMNS}, data FROM rulebook_versions "
            "WHERE org_id=%s AND rulebook_id=%s AND version=%s",
            (org_id, rulebook_id, version),
        )
        return (RulebookVersion(*row[:-1]), bytes(row[-1])) if row else None

    async def list_rulebooks(self, org_id: str) -> list[RulebookVersion]:
        if unstorable(org_id):
            return []
        rows = await self._read(
            f"SELECT {RULEBOOK_COLUMNS} FROM rulebook_versions p WHERE org_id=%s AND version = "
            "(SELECT max(version) FROM rulebook_versions q "
            " WHERE q.org_id=p.org_id AND q.rulebook_id=p.rulebook_id) "
            'ORDER BY rulebook_id COLLATE "C"',
            (org_id,),
        )
        return [RulebookVersion(*r) for r in rows]
