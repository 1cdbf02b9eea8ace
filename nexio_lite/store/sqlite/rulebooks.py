"""Screening rule book versions (SCREEN.md §2), SQLite.

A version is numbered inside the writer's `BEGIN IMMEDIATE` transaction, which holds the
file's write lock: the current version is read and the next one written with no other
writer in between, whichever process it is (so concurrent imports of one rule book get
consecutive versions, and identical ones make a single version)."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from nexio_lite.models import RulebookVersion
from nexio_lite.store.sqlite.core import SqliteBase, _fetchall

# The same columns in both backends (store/postgres/rulebooks.py), in RulebookVersion's order.
RULEBOOK_COLUMNS = "org_id, rulebook_id, version, sha256, rules, regulations, created_at"


def check_digest(canonical: bytes, sha256: str) -> None:
    """`sha256` must be the digest of `canonical`: what is stored is what is named."""
    if hashlib.sha256(canonical).hexdigest() != sha256:
        raise ValueError("sha256 is not the digest of the rule book's canonical JSON")


class RulebooksMixin(SqliteBase):
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

        def op(c: sqlite3.Connection) -> tuple[Any, ...]:
            rows = _fetchall(
                c,
                f"SELECT {RULEBOOK_COLUMNS} FROM rulebook_versions "
                "WHERE org_id=? AND rulebook_id=? ORDER BY version DESC LIMIT 1",
                (org_id, rulebook_id),
            )
            current = next(iter(rows), None)
            if current is not None and current[3] == sha256:
                return tuple(current)  # the same content: no new version
            version = 1 if current is None else int(current[2]) + 1
            row = (org_id, rulebook_id, version, sha256, rules, regulations, now)
            c.execute(
                f"INSERT INTO rulebook_versions ({RULEBOOK_COLUMNS}, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, canonical),
            )
            return row

        return RulebookVersion(*await self._write(op))

    async def current_rulebook(self, org_id: str, rulebook_id: str) -> RulebookVersion | None:
        row = await self._read_one(
            f"SELECT {RULEBOOK_COLUMNS} FROM rulebook_versions "
            "WHERE org_id=? AND rulebook_id=? ORDER BY version DESC LIMIT 1",
            (org_id, rulebook_id),
        )
        return RulebookVersion(*row) if row else None

    async def rulebook_version(
        self, org_id: str, rulebook_id: str, version: int
    ) -> tuple[RulebookVersion, bytes] | None:
        row = await self._read_one(
            f"SELECT {RULEBOOK_COLUMNS}, data FROM rulebook_versions "
            "WHERE org_id=? AND rulebook_id=? AND version=?",
            (org_id, rulebook_id, version),
        )
        return (RulebookVersion(*row[:-1]), bytes(row[-1])) if row else None

    async def list_rulebooks(self, org_id: str) -> list[RulebookVersion]:
        rows = await self._read(
            f"SELECT {RULEBOOK_COLUMNS} FROM rulebook_versions p WHERE org_id=? AND version = "
            "(SELECT max(version) FROM rulebook_versions q "
            " WHERE q.org_id=p.org_id AND q.rulebook_id=p.rulebook_id) ORDER BY rulebook_id",
            (org_id,),
        )
        return [RulebookVersion(*r) for r in rows]
