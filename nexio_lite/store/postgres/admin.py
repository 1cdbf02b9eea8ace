"""Organizations, API keys and pool versions."""

from __future__ import annotations

from nexio_lite.errors import Conflict
from nexio_lite.models import ApiKey, Org, PoolVersion
from nexio_lite.store.postgres.core import Conn, PostgresBase, unstorable
from nexio_lite.store.rows import KEY_COLUMNS, ORG_COLUMNS, POOL_COLUMNS, key_from_row

# Versions of one pool are numbered under a transaction-scoped advisory lock on
# (POOL_LOCK_CLASS, hashtext(org/pool)): the next number is read only once the previous
# import committed, so concurrent imports get consecutive versions (a hash collision
# between two pools only makes them wait for each other; the primary key still forbids
# a duplicate).
POOL_LOCK_CLASS = 0x6E78
LOCK_POOL = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
INSERT_POOL_VERSION = (
    f"INSERT INTO pool_versions ({POOL_COLUMNS}, data) "
    "SELECT %s, %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s "
    "FROM pool_versions WHERE org_id=%s AND pool_id=%s RETURNING version"
)
TOUCH_KEYS = (
    "UPDATE api_keys k SET last_used_at=greatest(coalesce(k.last_used_at, 0), v.t) "
    "FROM unnest(%s::text[], %s::bigint[]) AS v(id, t) WHERE k.id=v.id"
)


class AdminMixin(PostgresBase):
    # ---- organizations and keys ------------------------------------------------------

    async def create_org(self, org_id: str, webhook_secret: str, now: int) -> Org:
        try:
            await self._exec(
                "INSERT INTO orgs (id, webhook_secret, created_at) VALUES (%s, %s, %s)",
                (org_id, webhook_secret, now),
            )
        except Conflict as exc:
            raise Conflict(f"organization {org_id!r} already exists") from exc
        return Org(org_id, webhook_secret, None, None, now)

    async def get_org(self, org_id: str) -> Org | None:
        if unstorable(org_id):
            return None
        row = await self._read_one(f"SELECT {ORG_COLUMNS} FROM orgs WHERE id=%s", (org_id,))
        return Org(*row) if row else None

    async def rotate_org_secret(self, org_id: str, new_secret: str, now: int) -> Org:
        rows = await self._fetch(
            "UPDATE orgs SET previous_secret=webhook_secret, webhook_secret=%s, "
            f"secret_rotated_at=%s WHERE id=%s RETURNING {ORG_COLUMNS}",
            (new_secret, now, org_id),
        )
        if not rows:
            raise Conflict(f"no organization {org_id!r}")
        return Org(*rows[0])

    async def create_key(self, key: ApiKey, key_hash: str) -> None:
        await self._exec(
            "INSERT INTO api_keys (id, org_id, name, key_hash, scopes, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (key.id, key.org_id, key.name, key_hash, ",".join(key.scopes), key.created_at),
        )

    async def find_key(self, key_hash: str) -> ApiKey | None:
        if unstorable(key_hash):
            return None
        row = await self._read_one(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash=%s", (key_hash,)
        )
        return key_from_row(row) if row else None

    async def list_keys(self, org_id: str) -> list[ApiKey]:
        rows = await self._read(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id=%s "
            'ORDER BY created_at, id COLLATE "C"',
            (org_id,),
        )
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, now: int) -> bool:
        changed = await self._exec(
            "UPDATE api_keys SET revoked_at=coalesce(revoked_at, %s) WHERE id=%s", (now, key_id)
        )
        return bool(changed)

    async def touch_keys(self, last_used: dict[str, int]) -> None:
        if not last_used:
            return
        ids = sorted(last_used)  # one lock order for every process
        await self._exec(TOUCH_KEYS, (ids, [last_used[k] for k in ids]))

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
        """A new immutable version, numbered max + 1 under the pool's advisory lock (two
        concurrent imports of one pool get versions n and n + 1, never the same)."""

        async def op(c: Conn) -> int:
            await c.execute(LOCK_POOL, (POOL_LOCK_CLASS, f"{org_id}/{pool_id}"))
            cur = await c.execute(
                INSERT_POOL_VERSION,
                (org_id, pool_id, generator, size, as_of, sha256, now, blob, org_id, pool_id),
            )
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

        version = await self._run(op)
        return PoolVersion(org_id, pool_id, version, generator, size, as_of, sha256, now)

    async def current_pool(self, org_id: str, pool_id: str) -> PoolVersion | None:
        if unstorable(org_id, pool_id):
            return None
        row = await self._read_one(
            f"SELECT {POOL_COLUMNS} FROM pool_versions WHERE org_id=%s AND pool_id=%s "
            "ORDER BY version DESC LIMIT 1",
            (org_id, pool_id),
        )
        return PoolVersion(*row) if row else None

    async def get_pool_version(self, org_id: str, pool_id: str, version: int) -> PoolVersion | None:
        if unstorable(org_id, pool_id):
            return None
        row = await self._read_one(
            f"SELECT {POOL_COLUMNS} FROM pool_versions "
            "WHERE org_id=%s AND pool_id=%s AND version=%s",
            (org_id, pool_id, version),
        )
        return PoolVersion(*row) if row else None

    async def list_pools(self, org_id: str) -> list[PoolVersion]:
        rows = await self._read(
            f"SELECT {POOL_COLUMNS} FROM pool_versions p WHERE org_id=%s AND version = "
            "(SELECT max(version) FROM pool_versions q "
            ' WHERE q.org_id=p.org_id AND q.pool_id=p.pool_id) ORDER BY pool_id COLLATE "C"',
            (org_id,),
        )
        return [PoolVersion(*r) for r in rows]
