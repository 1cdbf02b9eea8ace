"""Organizations, API keys and pool versions."""

from __future__ import annotations

import sqlite3
from typing import Any

from nexio_lite.errors import Conflict
from nexio_lite.models import (
    ApiKey,
    Org,
    PoolVersion,
)
from nexio_lite.store.sqlite.core import (
    KEY_COLUMNS,
    ORG_COLUMNS,
    POOL_COLUMNS,
    SqliteBase,
    _fetchall,
    _key,
)


class AdminMixin(SqliteBase):
    # ---- organizations and keys ------------------------------------------------------

    async def create_org(self, org_id: str, webhook_secret: str, now: int) -> Org:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO orgs (id, webhook_secret, created_at) VALUES (?, ?, ?)",
                (org_id, webhook_secret, now),
            )

        try:
            await self._write(op)
        except Conflict as exc:
            raise Conflict(f"organization {org_id!r} already exists") from exc
        return Org(org_id, webhook_secret, None, None, now)

    async def get_org(self, org_id: str) -> Org | None:
        row = await self._read_one(f"SELECT {ORG_COLUMNS} FROM orgs WHERE id=?", (org_id,))
        return Org(*row) if row else None

    async def rotate_org_secret(self, org_id: str, new_secret: str, now: int) -> Org:
        def op(c: sqlite3.Connection) -> Any:
            rows = _fetchall(
                c,
                "UPDATE orgs SET previous_secret=webhook_secret, webhook_secret=?, "
                f"secret_rotated_at=? WHERE id=? RETURNING {ORG_COLUMNS}",
                (new_secret, now, org_id),
            )
            return list(rows)

        rows = await self._write(op)
        if not rows:
            raise Conflict(f"no organization {org_id!r}")
        return Org(*rows[0])

    async def create_key(self, key: ApiKey, key_hash: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO api_keys (id, org_id, name, key_hash, scopes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key.id, key.org_id, key.name, key_hash, ",".join(key.scopes), key.created_at),
            )

        await self._write(op)

    async def find_key(self, key_hash: str) -> ApiKey | None:
        row = await self._read_one(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash=?", (key_hash,)
        )
        return _key(row) if row else None

    async def list_keys(self, org_id: str) -> list[ApiKey]:
        rows = await self._read(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id=? ORDER BY created_at, id",
            (org_id,),
        )
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str, now: int) -> bool:
        def op(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "UPDATE api_keys SET revoked_at=coalesce(revoked_at, ?) WHERE id=?",
                (now, key_id),
            )
            return cur.rowcount

        return bool(await self._write(op))

    async def touch_keys(self, last_used: dict[str, int]) -> None:
        if not last_used:
            return

        def op(c: sqlite3.Connection) -> None:
            c.executemany(
                "UPDATE api_keys SET last_used_at=max(coalesce(last_used_at, 0), ?) WHERE id=?",
                [(t, k) for k, t in last_used.items()],
            )

        await self._write(op)

    # ---- pools -----------------------------------------------------------------------

    async def add_pool_version(
        self,
        org_id: str,
        pool_id: str,
        *,
        generator: str,
        size: int,
        as_of: str,
        sha256: str,
        blob: bytes,
        now: int,
    ) -> PoolVersion:
        def op(c: sqlite3.Connection) -> int:
            rows = _fetchall(
                c,
                "SELECT coalesce(max(version), 0) + 1 FROM pool_versions "
                "WHERE org_id=? AND pool_id=?",
                (org_id, pool_id),
            )
            version = next(iter(rows))[0]
            c.execute(
                f"INSERT INTO pool_versions ({POOL_COLUMNS}, data) VALUES (?,?,?,?,?,?,?,?,?)",
                (org_id, pool_id, version, generator, size, as_of, sha256, now, blob),
            )
            return int(version)

        version = await self._write(op)
        return PoolVersion(org_id, pool_id, version, generator, size, as_of, sha256, now)

    async def current_pool(self, org_id: str, pool_id: str) -> PoolVersion | None:
        row = await self._read_one(
            f"SELECT {POOL_COLUMNS} FROM pool_versions WHERE org_id=? AND pool_id=? "
            "ORDER BY version DESC LIMIT 1",
            (org_id, pool_id),
        )
        return PoolVersion(*row) if row else None

    async def get_pool_version(self, org_id: str, pool_id: str, version: int) -> PoolVersion | None:
        row = await self._read_one(
            f"SELECT {POOL_COLUMNS} FROM pool_versions WHERE org_id=? AND pool_id=? AND version=?",
            (org_id, pool_id, version),
        )
        return PoolVersion(*row) if row else None

    async def list_pools(self, org_id: str) -> list[PoolVersion]:
        rows = await self._read(
            f"SELECT {POOL_COLUMNS} FROM pool_versions p WHERE org_id=? AND version = "
            "(SELECT max(version) FROM pool_versions q "
            " WHERE q.org_id=p.org_id AND q.pool_id=p.pool_id) ORDER BY pool_id",
            (org_id,),
        )
        return [PoolVersion(*r) for r in rows]
