"""Idempotency keys and the queries behind maintenance jobs. The decisions (the
idempotency state machine, the metrics arithmetic) are `store.shared`'s."""

from __future__ import annotations

from typing import Any

from nexio_lite.errors import StoreError
from nexio_lite.jobtypes import swept_names
from nexio_lite.models import IdempotencyClaim, SweepCount
from nexio_lite.store.postgres.core import Conn, PostgresBase
from nexio_lite.store.shared import (
    StoredIdempotencyKey,
    decide_idempotent,
    job_metrics_report,
)

TAKE_KEY = (
    "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at, expires_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (org_id, key) DO NOTHING RETURNING 1"
)
LOCK_KEY = (
    "SELECT request_hash, job_id, response, created_at, expires_at FROM idempotency_keys "
    "WHERE org_id=%s AND key=%s FOR UPDATE"
)
RETAKE_KEY = (
    "UPDATE idempotency_keys SET request_hash=%s, job_id=NULL, response=NULL, created_at=%s, "
    "expires_at=%s WHERE org_id=%s AND key=%s"
)
TAKE_LEASE = (
    "INSERT INTO leases (name, holder, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET holder=excluded.holder, expires_at=excluded.expires_at "
    "WHERE leases.holder=excluded.holder OR leases.expires_at < %s RETURNING holder"
)
SWEEPABLE = (
    "SELECT count(*), count(*) FILTER (WHERE completed_at < %s) FROM jobs WHERE org_id=%s "
    "AND type = ANY(%s) AND status IN ('completed', 'failed')"
)
DELETE_SWEPT = (
    "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE org_id=%s "
    "AND type = ANY(%s) AND status IN ('completed', 'failed') AND completed_at < %s "
    "LIMIT %s FOR UPDATE SKIP LOCKED)"
)
DELIVERY_OUTCOMES = (
    "SELECT count(*) FILTER (WHERE status='delivered'), count(*) FILTER (WHERE status='failed') "
    "FROM deliveries WHERE org_id=%s AND updated_at>=%s AND status<>'pending'"
)


class MaintenanceMixin(PostgresBase):
    # ---- idempotency keys --------------------------------------------------------------

    async def begin_idempotent(
        self, org_id: str, key: str, request_hash: str, now: int, ttl_ms: int, stale_ms: int
    ) -> IdempotencyClaim:
        """Take the key for this request, or say why not (`shared.decide_idempotent`).
        Taking a free key is one atomic insert-if-absent, so of two concurrent requests
        with one key exactly one is FRESH (the other waits for its commit and finds the
        key in progress); an existing key is decided on under its row lock."""

        async def op(c: Conn) -> IdempotencyClaim:
            for _ in range(3):  # the key may vanish between the two statements (abandoned)
                cur = await c.execute(TAKE_KEY, (org_id, key, request_hash, now, now + ttl_ms))
                if await cur.fetchone() is not None:  # the key was free: this request took it
                    return decide_idempotent(None, request_hash, now, stale_ms).claim
                cur = await c.execute(LOCK_KEY, (org_id, key))
                row = await cur.fetchone()
                if row is None:
                    continue
                stored = StoredIdempotencyKey(*row)
                decision = decide_idempotent(stored, request_hash, now, stale_ms)
                if decision.take:
                    await c.execute(RETAKE_KEY, (request_hash, now, now + ttl_ms, org_id, key))
                return decision.claim
            raise StoreError(f"idempotency key {key!r} changed under this request three times")

        return await self._run(op)

    async def abandon_idempotent(self, org_id: str, key: str) -> None:
        """Free a key whose request failed before a job was created (the client may fix
        the request and use the key again)."""
        await self._exec(
            "DELETE FROM idempotency_keys WHERE org_id=%s AND key=%s AND job_id IS NULL",
            (org_id, key),
        )

    async def purge_idempotency(self, now: int) -> int:
        return await self._exec("DELETE FROM idempotency_keys WHERE expires_at < %s", (now,))

    # ---- leases ------------------------------------------------------------------------

    async def take_lease(self, name: str, holder: str, now: int, ttl_ms: int) -> bool:
        """Hold `name` until now + ttl_ms if it is free, expired or `holder`'s already:
        one atomic upsert (of two processes taking a free lease at once, one gets it)."""
        rows = await self._fetch(TAKE_LEASE, (name, holder, now + ttl_ms, now))
        return bool(rows)

    async def drop_lease(self, name: str, holder: str) -> None:
        await self._exec("DELETE FROM leases WHERE name=%s AND holder=%s", (name, holder))

    # ---- maintenance -------------------------------------------------------------------

    async def list_org_ids(self) -> list[str]:
        return [r[0] for r in await self._read('SELECT id FROM orgs ORDER BY id COLLATE "C"')]

    async def has_active_job(self, org_id: str, job_type: str) -> bool:
        row = await self._read_one(
            "SELECT 1 FROM jobs WHERE org_id=%s AND type=%s "
            "AND status IN ('queued', 'processing') LIMIT 1",
            (org_id, job_type),
        )
        return row is not None

    async def count_sweepable(self, org_id: str, cutoff: int) -> SweepCount:
        """The organization's terminal jobs of the swept types, and those finished before cutoff."""
        row = await self._read_one(SWEEPABLE, (cutoff, org_id, list(swept_names())))
        return SweepCount(int(row[0]), int(row[1])) if row else SweepCount(0, 0)

    async def delete_swept(self, org_id: str, cutoff: int, limit: int) -> int:
        """Delete up to `limit` terminal jobs of the swept types finished before cutoff, with their
        deliveries and attempts (one short statement; rows another sweep is deleting at
        this moment are skipped)."""
        return await self._exec(DELETE_SWEPT, (org_id, list(swept_names()), cutoff, limit))

    async def job_metrics(self, org_id: str, since: int) -> dict[str, Any]:
        """Jobs per status created since `since`; p50/p95 duration (ms) of evaluations
        completed since then; the share of deliveries finished since then that succeeded
        (arithmetic: `shared.job_metrics_report`)."""
        counts = await self._read(
            "SELECT status, count(*) FROM jobs WHERE org_id=%s AND created_at>=%s GROUP BY status",
            (org_id, since),
        )
        durations = [
            int(r[0])
            for r in await self._read(
                "SELECT completed_at - started_at AS d FROM jobs WHERE org_id=%s "
                "AND type='evaluation' AND status='completed' AND completed_at>=%s ORDER BY d",
                (org_id, since),
            )
        ]
        row = await self._read_one(DELIVERY_OUTCOMES, (org_id, since))
        delivered, failed = (int(row[0]), int(row[1])) if row else (0, 0)
        return job_metrics_report([(s, int(n)) for s, n in counts], durations, delivered, failed)
