"""Idempotency keys and the queries behind maintenance jobs."""

from __future__ import annotations

import sqlite3
from typing import Any

from nexio_lite.jobtypes import swept_names
from nexio_lite.jsontext import dumps
from nexio_lite.models import (
    IdempotencyClaim,
    SweepCount,
)
from nexio_lite.store.shared import (
    StoredIdempotencyKey,
    decide_idempotent,
    job_metrics_report,
)
from nexio_lite.store.sqlite.core import (
    SqliteBase,
    _fetchall,
)


class MaintenanceMixin(SqliteBase):
    # ---- idempotency keys --------------------------------------------------------------

    async def begin_idempotent(
        self, org_id: str, key: str, request_hash: str, now: int, ttl_ms: int, stale_ms: int
    ) -> IdempotencyClaim:
        """Take the key for this request, or say why not (the decision is
        `store.shared.decide_idempotent`'s). A key whose request never finished (a
        crash) is taken over after `stale_ms`; expired keys are forgotten."""

        def op(c: sqlite3.Connection) -> IdempotencyClaim:
            cur = c.execute(
                "INSERT OR IGNORE INTO idempotency_keys (org_id, key, request_hash, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (org_id, key, request_hash, now, now + ttl_ms),
            )
            if cur.rowcount:  # the key was free: this request wrote it
                return decide_idempotent(None, request_hash, now, stale_ms).claim
            rows = list(
                _fetchall(
                    c,
                    "SELECT request_hash, job_id, response, created_at, expires_at "
                    "FROM idempotency_keys WHERE org_id=? AND key=?",
                    (org_id, key),
                )
            )
            stored = StoredIdempotencyKey(*rows[0])
            decision = decide_idempotent(stored, request_hash, now, stale_ms)
            if decision.take:
                c.execute(
                    "UPDATE idempotency_keys SET request_hash=?, job_id=NULL, response=NULL, "
                    "created_at=?, expires_at=? WHERE org_id=? AND key=?",
                    (request_hash, now, now + ttl_ms, org_id, key),
                )
            return decision.claim

        return await self._write(op)

    async def abandon_idempotent(self, org_id: str, key: str) -> None:
        """Free a key whose request failed before a job was created (the client may fix
        the request and use the key again)."""

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "DELETE FROM idempotency_keys WHERE org_id=? AND key=? AND job_id IS NULL",
                (org_id, key),
            )

        await self._write(op)

    async def purge_idempotency(self, now: int) -> int:
        def op(c: sqlite3.Connection) -> int:
            cur = c.execute("DELETE FROM idempotency_keys WHERE expires_at<?", (now,))
            return cur.rowcount

        return int(await self._write(op))

    # ---- leases ------------------------------------------------------------------------

    async def take_lease(self, name: str, holder: str, now: int, ttl_ms: int) -> bool:
        rows = await self._write_returning(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder=excluded.holder, "
            "expires_at=excluded.expires_at "
            "WHERE leases.holder=excluded.holder OR leases.expires_at < ? RETURNING holder",
            (name, holder, now + ttl_ms, now),
        )
        return bool(rows)

    async def drop_lease(self, name: str, holder: str) -> None:
        await self._write_returning(
            "DELETE FROM leases WHERE name=? AND holder=? RETURNING name", (name, holder)
        )

    # ---- maintenance -------------------------------------------------------------------

    async def list_org_ids(self) -> list[str]:
        return [r[0] for r in await self._read("SELECT id FROM orgs ORDER BY id")]

    async def has_active_job(self, org_id: str, job_type: str) -> bool:
        row = await self._read_one(
            "SELECT 1 FROM jobs WHERE org_id=? AND type=? AND status IN ('queued', 'processing') "
            "LIMIT 1",
            (org_id, job_type),
        )
        return row is not None

    async def count_sweepable(self, org_id: str, cutoff: int) -> SweepCount:
        """The organization's terminal jobs of the swept types, and those finished before cutoff."""
        row = await self._read_one(
            "SELECT count(*), coalesce(sum(completed_at < ?), 0) FROM jobs WHERE org_id=? "
            "AND type IN (SELECT value FROM json_each(?)) AND status IN ('completed', 'failed')",
            (cutoff, org_id, dumps(swept_names())),
        )
        return SweepCount(int(row[0]), int(row[1])) if row else SweepCount(0, 0)

    async def delete_swept(self, org_id: str, cutoff: int, limit: int) -> int:
        """Delete up to `limit` terminal jobs of the swept types finished before cutoff, with their
        deliveries and attempts (one short write transaction)."""

        def op(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE org_id=? "
                "AND type IN (SELECT value FROM json_each(?)) "
                "AND status IN ('completed', 'failed') AND completed_at<? LIMIT ?)",
                (org_id, dumps(swept_names()), cutoff, limit),
            )
            return cur.rowcount

        return int(await self._write(op))

    async def job_metrics(self, org_id: str, since: int) -> dict[str, Any]:
        """Jobs per status created since `since`; p50/p95 duration (ms) of evaluations
        completed since then; the share of deliveries finished since then that succeeded."""
        counts = await self._read(
            "SELECT status, count(*) FROM jobs WHERE org_id=? AND created_at>=? GROUP BY status",
            (org_id, since),
        )
        durations = [
            int(r[0])
            for r in await self._read(
                "SELECT completed_at - started_at AS d FROM jobs WHERE org_id=? "
                "AND type='evaluation' AND status='completed' AND completed_at>=? ORDER BY d",
                (org_id, since),
            )
        ]
        row = await self._read_one(
            "SELECT coalesce(sum(status='delivered'), 0), coalesce(sum(status='failed'), 0) "
            "FROM deliveries WHERE org_id=? AND updated_at>=? AND status!='pending'",
            (org_id, since),
        )
        delivered, failed = (int(row[0]), int(row[1])) if row else (0, 0)
        return job_metrics_report([tuple(r) for r in counts], durations, delivered, failed)
