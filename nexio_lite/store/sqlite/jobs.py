"""Jobs: enqueue, claim with a lease and a token, finish, reap, list."""

from __future__ import annotations

import sqlite3
from typing import Any

from nexio_lite.models import (
    Claim,
    Job,
    NewJob,
    QueueStats,
    ReapReport,
)
from nexio_lite.store.shared import ATTEMPTS_EXHAUSTED, counted_queued_types, queue_stats_from
from nexio_lite.store.sqlite.core import (
    JOB_COLUMNS,
    Batched,
    SqliteBase,
    _fetchall,
    _held,
    _job,
)
from nexio_lite.store.sqlite.deliveries import _insert_delivery


def _insert_jobs(
    c: sqlite3.Connection, items: list[tuple[NewJob, tuple[str, str] | None]]
) -> list[None]:
    c.executemany(
        "INSERT INTO jobs (id, org_id, type, status, request, pool_id, pool_version, "
        "webhook_url, created_at, updated_at, rulebook_id, rulebook_version) "
        "VALUES (?,?,?,'queued',?,?,?,?,?,?,?,?)",
        [(j.id, j.org_id, j.type, j.request, j.pool_id, j.pool_version, j.webhook_url,
          j.created_at, j.created_at, j.rulebook_id, j.rulebook_version) for j, _ in items],
    )  # fmt: skip
    keys = [(j.id, idem[1], j.org_id, idem[0]) for j, idem in items if idem is not None]
    if keys:
        c.executemany(
            "UPDATE idempotency_keys SET job_id=?, response=? WHERE org_id=? AND key=?", keys
        )
    return [None] * len(items)


def _complete_jobs(
    c: sqlite3.Connection,
    items: list[tuple[Claim, str, str | None, bytes | None, int, int]],
) -> list[bool]:
    """Complete the claimed jobs whose token still matches, and queue the delivery of
    those with a webhook URL, in the caller's transaction."""
    held = _held(c, "jobs", [(claim.job.id, claim.token) for claim, *_ in items])
    kept = [item for item in items if (item[0].job.id, item[0].token) in held]
    c.executemany(
        "UPDATE jobs SET status='completed', result=?, stages=?, candidates=?, completed_at=?, "
        "updated_at=?, lease_until=NULL, claim_token=NULL WHERE id=? AND status='processing'",
        [(result, stages, cands, now, now, claim.job.id)
         for claim, result, stages, cands, now, _ in kept],
    )  # fmt: skip
    for claim, _, _, _, now, deliver_at in kept:
        job, url = claim.job, claim.job.webhook_url
        if url:
            _insert_delivery(c, job.id, job.org_id, url, now, deliver_at)
    return [(item[0].job.id, item[0].token) in held for item in items]


class JobsMixin(SqliteBase):
    # ---- jobs ------------------------------------------------------------------------

    async def enqueue(self, job: NewJob, idempotency: tuple[str, str] | None = None) -> None:
        """Insert the job; committed when this returns. Concurrent submissions share one
        INSERT (executemany) and one commit. With `idempotency` = (key, response), the
        key taken with `begin_idempotent` records the job and its response in the same
        transaction."""
        await self._write(Batched(_insert_jobs, (job, idempotency)))
        self.notifier.publish("jobs", [job.id])

    async def get_job(self, org_id: str, job_id: str) -> Job | None:
        row = await self._read_one(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=? AND org_id=?", (job_id, org_id)
        )
        return _job(row) if row else None

    async def claim(self, limit: int, lease_ms: int, now: int) -> list[Claim]:
        rows = await self._write_returning(
            "UPDATE jobs SET status='processing', claim_token=lower(hex(randomblob(16))), "
            "lease_until=?, attempts=attempts+1, started_at=?, updated_at=? "
            "WHERE seq IN (SELECT seq FROM jobs WHERE status='queued' "
            f"ORDER BY seq LIMIT ?) RETURNING {JOB_COLUMNS}",
            (now + lease_ms, now, now, limit),
        )
        jobs = sorted((_job(r) for r in rows), key=lambda j: j.seq)
        return [Claim(job, job.claim_token or "") for job in jobs]

    async def renew(self, claims: list[Claim], lease_ms: int, now: int) -> set[str]:
        if not claims:
            return set()
        tokens = [c.token for c in claims]

        marks = ",".join("?" * len(tokens))
        rows = await self._write_returning(
            f"UPDATE jobs SET lease_until=? WHERE status='processing' "
            f"AND claim_token IN ({marks}) RETURNING id",
            (now + lease_ms, *tokens),
        )
        return {r[0] for r in rows}

    async def _finish(
        self,
        claim: Claim,
        sql: str,
        params: tuple[Any, ...],
        now: int,
        deliver_at: int | None = None,
    ) -> bool:
        """Apply `sql` to the claimed job while its token matches. With `deliver_at`, a
        job that has a webhook URL gets its delivery row in the same transaction."""
        job = claim.job

        def op(c: sqlite3.Connection) -> int:
            cur = c.execute(
                sql + " WHERE id=? AND claim_token=? AND status='processing'",
                (*params, job.id, claim.token),
            )
            if cur.rowcount and deliver_at is not None and job.webhook_url:
                _insert_delivery(c, job.id, job.org_id, job.webhook_url, now, deliver_at)
            return cur.rowcount

        return bool(await self._write(op))

    async def complete(
        self,
        claim: Claim,
        result: str,
        stages: str | None,
        now: int,
        deliver_at: int,
        candidates: bytes | None = None,
        *,
        more_coming: bool = False,
    ) -> bool:
        """Completions arriving together share three statements (see `_complete_jobs`);
        in a steady stream, those with `more_coming` wait a moment for one another
        (`core._Writer._linger`)."""
        item = (claim, result, stages, candidates, now, deliver_at)
        done = bool(await self._write(Batched(_complete_jobs, item, linger=more_coming)))
        if done:
            self.notifier.job_finished(claim.job)
        return done

    async def fail(self, claim: Claim, error: str, now: int, deliver_at: int) -> bool:
        done = await self._finish(
            claim,
            "UPDATE jobs SET status='failed', error=?, completed_at=?, updated_at=?, "
            "lease_until=NULL, claim_token=NULL",
            (error, now, now),
            now,
            deliver_at,
        )
        if done:
            self.notifier.job_finished(claim.job)
        return done

    async def release(self, claim: Claim, now: int) -> bool:
        done = await self._finish(
            claim,
            "UPDATE jobs SET status='queued', updated_at=?, lease_until=NULL, claim_token=NULL",
            (now,),
            now,
        )
        if done:
            self.notifier.publish("jobs", [claim.job.id])
        return done

    async def reap(self, now: int, max_attempts: int, deliver_at: int) -> ReapReport:
        def op(c: sqlite3.Connection) -> ReapReport:
            failed = _fetchall(
                c,
                "UPDATE jobs SET status='failed', error=printf(?, attempts, attempts), "
                "completed_at=?, updated_at=?, lease_until=NULL, claim_token=NULL "
                "WHERE status='processing' AND lease_until < ? AND attempts >= ? "
                "RETURNING id, org_id, webhook_url",
                (ATTEMPTS_EXHAUSTED, now, now, now, max_attempts),
            )
            for job_id, org_id, url in failed:
                if url:
                    _insert_delivery(c, job_id, org_id, url, now, deliver_at)
            requeued = _fetchall(
                c,
                "UPDATE jobs SET status='queued', updated_at=?, lease_until=NULL, "
                "claim_token=NULL WHERE status='processing' AND lease_until < ? RETURNING id",
                (now, now),
            )
            return ReapReport(
                requeued=tuple(sorted(r[0] for r in requeued)),
                failed=tuple(sorted(r[0] for r in failed)),
                delivering=tuple(sorted(r[0] for r in failed if r[2])),
            )

        report: ReapReport = await self._write(op)
        self.notifier.reaped(report)
        return report

    async def count_jobs(self, status: str | None = None) -> int:
        return await self._count("jobs", status)

    async def queue_stats(self, now: int) -> QueueStats:
        """Two reads on the partial indexes (queued jobs, processing jobs, pending
        deliveries) and the (org_id, type) index: ~50 ms with 700,000 jobs queued,
        well under 1 ms with a few thousand."""
        totals = await self._read_one(
            "SELECT (SELECT count(*) FROM jobs INDEXED BY jobs_queued WHERE status='queued'), "
            "(SELECT created_at FROM jobs INDEXED BY jobs_queued WHERE status='queued' "
            "ORDER BY seq LIMIT 1), "
            "(SELECT count(*) FROM deliveries WHERE status='pending')"
        )
        counted = counted_queued_types()
        marks = ",".join("?" * len(counted))
        rows = await self._read(
            "SELECT type, 'processing', count(*) FROM jobs INDEXED BY jobs_leases "
            "WHERE status='processing' GROUP BY type UNION ALL "
            "SELECT type, 'queued', count(*) FROM jobs INDEXED BY jobs_org_type "
            "WHERE org_id IN (SELECT id FROM orgs) "
            f"AND type IN ({marks}) AND status='queued' GROUP BY type",
            counted,
        )
        queued, head, pending = totals if totals else (0, None, 0)
        return queue_stats_from(now, queued, head, pending, rows)

    async def get_jobs(self, job_ids: list[str]) -> dict[str, Job]:
        """Several jobs by id, whatever their organization (for the delivery loop, whose
        deliveries name their job)."""
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = await self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({marks})", job_ids)
        return {job.id: job for job in map(_job, rows)}

    # ---- listing -----------------------------------------------------------------------

    async def list_jobs(
        self,
        org_id: str,
        *,
        limit: int,
        status: str | None = None,
        job_type: str | None = None,
        before_seq: int | None = None,
    ) -> list[Job]:
        """The organization's jobs, newest first, without candidates; `before_seq` pages."""
        where, params = ["org_id=?"], list[str | int]([org_id])
        for column, value in (("status", status), ("type", job_type)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if before_seq is not None:
            where.append("seq<?")
            params.append(before_seq)
        columns = JOB_COLUMNS.replace("candidates", "NULL")
        rows = await self._read(
            f"SELECT {columns} FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
            [*params, limit],
        )
        return [_job(r) for r in rows]
