"""Jobs: enqueue, claim with a lease and a token, finish, reap, list.

Claims take queued rows oldest first with `FOR UPDATE SKIP LOCKED`: concurrent claimers
(in this process or any other) never wait for each other and never get the same job.
Renewal, completion, failure and release change a job only while its claim token still
matches, so a job that was reaped and claimed again can never be finished by its old
holder. A job has a token only while it is `processing` (every change out of that
status clears it), so the token alone selects it: a condition on `status` would let the
planner scan `jobs_leases`, a partial index whose dead entries (one per finished job,
until vacuum) made every completion read thousands of them. The reaper skips rows
locked at that moment too (they are being finished).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nexio_lite.models import Claim, Job, NewJob, QueueStats, ReapReport, random_id
from nexio_lite.store.postgres.batch import Batcher
from nexio_lite.store.postgres.core import NO_FLUSH, Conn, PostgresBase, Statement, unstorable
from nexio_lite.store.postgres.deliveries import NewDelivery, insert_deliveries
from nexio_lite.store.rows import JOB_COLUMNS, job_from_row
from nexio_lite.store.shared import attempts_exhausted_error, queue_stats_from
from nexio_lite.webhooks.signing import new_webhook_id

EnqueueItem = tuple[NewJob, tuple[str, str] | None]
# (claim, result, stages, candidates, now, deliver_at)
CompleteItem = tuple[Claim, str, str | None, bytes | None, int, int]
JobWrite = tuple[str, Any]  # ("enqueue", EnqueueItem) or ("complete", CompleteItem)
# Under load, a transaction of submissions and completions starts at most this often
# (batch.py): each costs the database a commit (a WAL flush), and both processes a round
# trip and its handling, whatever it carries. A lone write starts at once.
WRITE_SPACING_SECONDS = 0.010

INSERT_JOBS = (
    "INSERT INTO jobs (id, org_id, type, status, request, pool_id, pool_version, webhook_url, "
    "created_at, updated_at, rulebook_id, rulebook_version) SELECT id, org_id, type, 'queued', "
    "request, pool_id, pool_version, webhook_url, created_at, created_at, rulebook_id, "
    "rulebook_version FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::int[], %b::text[], %b::bigint[], %b::text[], %b::int[]) WITH ORDINALITY "
    "AS v(id, org_id, type, request, pool_id, pool_version, webhook_url, created_at, "
    "rulebook_id, rulebook_version, ord) ORDER BY ord"
)
RECORD_IDEMPOTENT = (
    "UPDATE idempotency_keys k SET job_id=v.job_id, response=v.response "
    "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS v(job_id, response, org, "
    "key) WHERE k.org_id=v.org AND k.key=v.key"
)
CLAIM_JOBS = (
    f"WITH {NO_FLUSH}, picked AS (SELECT seq AS pick FROM jobs WHERE status='queued' "
    "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) "
    "UPDATE jobs SET status='processing', claim_token=replace(gen_random_uuid()::text, '-', ''), "
    "lease_until=%s, attempts=attempts+1, started_at=%s, updated_at=%s "
    f"FROM picked, no_flush WHERE seq=pick RETURNING {JOB_COLUMNS}"
)
RENEW_LEASES = (
    f"WITH {NO_FLUSH} UPDATE jobs SET lease_until=%s FROM no_flush "
    "WHERE claim_token = ANY(%s) RETURNING id"
)
# The claimed jobs whose token still matches are completed. Never prepared, so always
# planned for its arrays: a generic plan, which PostgreSQL may choose and keep for a
# prepared statement, is made without their length; made while the table is small, it
# joins by scanning the whole table, and goes on doing so as the table grows, until the
# next ANALYZE.
COMPLETE_JOBS = (
    "UPDATE jobs j SET status='completed', result=v.result, stages=v.stages, "
    "candidates=v.candidates, completed_at=v.now, updated_at=v.now, lease_until=NULL, "
    "claim_token=NULL FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::bytea[], %b::bigint[]) AS v(id, token, result, stages, candidates, now) "
    "WHERE j.id=v.id AND j.claim_token=v.token RETURNING j.id"
)
# The same, when some of the jobs have a webhook URL: those completed get their delivery
# (ids made here, as `insert_deliveries` makes them) in the same statement.
COMPLETE_JOBS_DELIVERING = (
    "WITH v AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::bytea[], %b::bigint[], %b::bigint[], %b::text[], %b::text[]) WITH ORDINALITY "
    "AS v(id, token, result, stages, candidates, now, due, delivery_id, webhook_id, ord)), "
    "done AS (UPDATE jobs j SET status='completed', result=v.result, stages=v.stages, "
    "candidates=v.candidates, completed_at=v.now, updated_at=v.now, lease_until=NULL, "
    "claim_token=NULL FROM v WHERE j.id=v.id AND j.claim_token=v.token "
    "RETURNING j.id, j.org_id, j.webhook_url, v.now, v.due, v.delivery_id, v.webhook_id, "
    "v.ord), "
    "queued AS (INSERT INTO deliveries (id, job_id, org_id, webhook_id, url, status, "
    "created_at, updated_at, next_attempt_at) SELECT delivery_id, id, org_id, webhook_id, "
    "webhook_url, 'pending', now, now, due FROM done WHERE webhook_url IS NOT NULL "
    "ORDER BY ord) "
    "SELECT id FROM done"
)
EXPIRED_OUT_OF_ATTEMPTS = (
    "SELECT seq, attempts FROM jobs WHERE status='processing' AND lease_until < %s "
    "AND attempts >= %s ORDER BY seq FOR UPDATE SKIP LOCKED"
)
FAIL_EXHAUSTED = (
    "UPDATE jobs j SET status='failed', error=v.error, completed_at=%s, updated_at=%s, "
    "lease_until=NULL, claim_token=NULL FROM unnest(%b::bigint[], %b::text[]) AS v(seq, error) "
    "WHERE j.seq=v.seq RETURNING j.id, j.org_id, j.webhook_url"
)
REQUEUE_EXPIRED = (
    "UPDATE jobs SET status='queued', updated_at=%s, lease_until=NULL, claim_token=NULL "
    "WHERE seq IN (SELECT seq FROM jobs WHERE status='processing' AND lease_until < %s "
    "FOR UPDATE SKIP LOCKED) RETURNING id"
)


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as columns (one array parameter per column of an `unnest`)."""
    out: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(out, row, strict=True):
            column.append(value)
    return out


def _insert_jobs(items: list[EnqueueItem]) -> list[Statement]:
    jobs = [(j.id, j.org_id, j.type, j.request, j.pool_id, j.pool_version, j.webhook_url,
             j.created_at, j.rulebook_id, j.rulebook_version) for j, _ in items]  # fmt: skip
    statements = [Statement(INSERT_JOBS, _columns(jobs, 10))]
    keys = [(j.id, idem[1], j.org_id, idem[0]) for j, idem in items if idem is not None]
    if keys:
        statements.append(Statement(RECORD_IDEMPOTENT, _columns(keys, 4)))
    return statements


def _complete_jobs(items: list[CompleteItem]) -> Statement:
    """Complete the claimed jobs whose token still matches, and queue the delivery of
    those with a webhook URL; the statement returns the ids of the jobs completed."""
    if not any(claim.job.webhook_url for claim, *_ in items):
        rows = [(claim.job.id, claim.token, result, stages, cands, now)
                for claim, result, stages, cands, now, _ in items]  # fmt: skip
        return Statement(COMPLETE_JOBS, _columns(rows, 6), prepare=False)
    rows = []
    for claim, result, stages, cands, now, deliver_at in items:
        job = claim.job
        delivery = (random_id("dlv_"), new_webhook_id()) if job.webhook_url else (None, None)
        rows.append((job.id, claim.token, result, stages, cands, now, deliver_at, *delivery))
    return Statement(COMPLETE_JOBS_DELIVERING, _columns(rows, 9), prepare=False)


def _completed(items: list[CompleteItem], rows: list[Any]) -> list[bool]:
    """Each item's answer: whether its job was completed (one claim completed twice in a
    batch counts once)."""
    held = {r[0] for r in rows}
    answers = []
    for claim, *_ in items:
        answers.append(claim.job.id in held)
        held.discard(claim.job.id)
    return answers


class JobsMixin(PostgresBase):
    _job_writes: Batcher[JobWrite, bool | None]

    def _init_jobs(self) -> None:
        self._job_writes = Batcher(self._write_jobs, "jobs", WRITE_SPACING_SECONDS)

    async def _write_jobs(self, items: list[JobWrite]) -> list[bool | None]:
        """Submissions and completions together: one transaction, one round trip."""
        enqueues = [item for kind, item in items if kind == "enqueue"]
        completions = [item for kind, item in items if kind == "complete"]
        statements = _insert_jobs(enqueues) if enqueues else []
        if completions:
            statements.append(_complete_jobs(completions))
        results = await self._write(statements)
        completed = iter(_completed(completions, results[-1]) if completions else [])
        return [None if kind == "enqueue" else next(completed) for kind, _ in items]

    # ---- jobs ------------------------------------------------------------------------

    async def enqueue(self, job: NewJob, idempotency: tuple[str, str] | None = None) -> None:
        """Insert the job; committed when this returns. Concurrent submissions share one
        INSERT and one commit, with the completions of the moment (`_write_jobs`). With
        `idempotency` = (key, response), the key taken with `begin_idempotent` records the
        job and its response in the same transaction."""
        await self._job_writes.submit(("enqueue", (job, idempotency)))
        self.notifier.publish("jobs", [job.id])

    async def get_job(self, org_id: str, job_id: str) -> Job | None:
        if unstorable(org_id, job_id):
            return None
        row = await self._read_one(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=%s AND org_id=%s", (job_id, org_id)
        )
        return job_from_row(row) if row else None

    async def claim(self, limit: int, lease_ms: int, now: int) -> list[Claim]:
        rows = await self._fetch(CLAIM_JOBS, (limit, now + lease_ms, now, now))
        jobs = sorted((job_from_row(r) for r in rows), key=lambda j: j.seq)
        return [Claim(job, job.claim_token or "") for job in jobs]

    async def renew(self, claims: list[Claim], lease_ms: int, now: int) -> set[str]:
        if not claims:
            return set()
        rows = await self._fetch(RENEW_LEASES, (now + lease_ms, sorted(c.token for c in claims)))
        return {r[0] for r in rows}

    async def _finish(
        self, claim: Claim, sql: str, params: tuple[Any, ...], now: int, deliver_at: int | None
    ) -> bool:
        """Apply `sql` to the claimed job while its token matches. With `deliver_at`, a
        job that has a webhook URL gets its delivery row in the same transaction."""
        job = claim.job

        async def op(c: Conn) -> bool:
            cur = await c.execute(
                sql + " WHERE id=%s AND claim_token=%s RETURNING id",
                (*params, job.id, claim.token),
            )
            held = bool(await cur.fetchall())
            if held and deliver_at is not None and job.webhook_url:
                await insert_deliveries(c, [(job.id, job.org_id, job.webhook_url, now, deliver_at)])
            return held

        return await self._run(op)

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
        """Completions arriving together share one transaction with each other and with
        submissions (`_write_jobs`); `more_coming` changes nothing here."""
        item = (claim, result, stages, candidates, now, deliver_at)
        done = bool(await self._job_writes.submit(("complete", item)))  # None: enqueues
        if done:
            self.notifier.job_finished(claim.job)
        return done

    async def fail(self, claim: Claim, error: str, now: int, deliver_at: int) -> bool:
        done = await self._finish(
            claim,
            "UPDATE jobs SET status='failed', error=%s, completed_at=%s, updated_at=%s, "
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
            "UPDATE jobs SET status='queued', updated_at=%s, lease_until=NULL, claim_token=NULL",
            (now,),
            now,
            None,
        )
        if done:
            self.notifier.publish("jobs", [claim.job.id])
        return done

    async def reap(self, now: int, max_attempts: int, deliver_at: int) -> ReapReport:
        """Fail the expired jobs that used every attempt (error body from
        `store.shared`, delivery queued), then requeue the other expired ones."""

        async def op(c: Conn) -> ReapReport:
            cur = await c.execute(EXPIRED_OUT_OF_ATTEMPTS, (now, max_attempts))
            exhausted = await cur.fetchall()
            failed: list[tuple[str, str, str | None]] = []
            if exhausted:
                errors = [attempts_exhausted_error(int(n)) for _, n in exhausted]
                cur = await c.execute(
                    FAIL_EXHAUSTED, (now, now, [seq for seq, _ in exhausted], errors)
                )
                failed = [(r[0], r[1], r[2]) for r in await cur.fetchall()]
            new: list[NewDelivery] = [
                (job_id, org_id, url, now, deliver_at) for job_id, org_id, url in failed if url
            ]
            await insert_deliveries(c, new)
            cur = await c.execute(REQUEUE_EXPIRED, (now, now))
            requeued = [r[0] for r in await cur.fetchall()]
            return ReapReport(
                requeued=tuple(sorted(requeued)),
                failed=tuple(sorted(r[0] for r in failed)),
                delivering=tuple(sorted(d[0] for d in new)),
            )

        report = await self._run(op)
        self.notifier.reaped(report)
        return report

    async def count_jobs(self, status: str | None = None) -> int:
        return await self._count("jobs", status)

    async def queue_stats(self, now: int) -> QueueStats:
        """One read on the partial indexes (queued jobs, processing jobs, pending
        deliveries): its cost follows the queue's length, not the table's (~10 ms with
        10,000 jobs queued among 1,000,000). Queued jobs are grouped by type directly
        (through `jobs_queued`, or a parallel scan when most of the table is queued)."""
        rows = await self._read(
            "SELECT NULL, 'head', (SELECT created_at FROM jobs WHERE status='queued' "
            "ORDER BY seq LIMIT 1), (SELECT count(*) FROM deliveries WHERE status='pending') "
            "UNION ALL SELECT type, 'queued', count(*), NULL FROM jobs WHERE status='queued' "
            "GROUP BY type UNION ALL SELECT type, 'processing', count(*), NULL FROM jobs "
            "WHERE status='processing' GROUP BY type"
        )
        head = next(r for r in rows if r[1] == "head")
        counts = [(r[0], r[1], r[2]) for r in rows if r[1] != "head"]
        queued = sum(n for _, status, n in counts if status == "queued")
        return queue_stats_from(now, queued, head[2], head[3], counts)

    async def get_jobs(self, job_ids: list[str]) -> dict[str, Job]:
        """Several jobs by id, whatever their organization (for the delivery loop, whose
        deliveries name their job)."""
        if not job_ids:
            return {}
        rows = await self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY(%s)", (job_ids,))
        return {job.id: job for job in map(job_from_row, rows)}

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
        where: list[str] = ["org_id=%s"]
        params: list[Any] = [org_id]
        for column, value in (("status", status), ("type", job_type)):
            if value is not None:
                where.append(f"{column}=%s")
                params.append(value)
        if before_seq is not None:
            where.append("seq<%s")
            params.append(before_seq)
        columns = JOB_COLUMNS.replace("candidates", "NULL")
        rows = await self._read(
            f"SELECT {columns} FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT %s",
            [*params, limit],
        )
        return [job_from_row(r) for r in rows]
