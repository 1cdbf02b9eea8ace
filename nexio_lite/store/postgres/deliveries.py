"""The webhook outbox: deliveries and their attempts."""

from __future__ import annotations

import attrs

from nexio_lite.errors import Conflict, NotFound
from nexio_lite.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryClaim,
    DeliveryStatus,
    random_id,
)
from nexio_lite.store.postgres.batch import Batcher
from nexio_lite.store.postgres.core import Conn, PostgresBase
from nexio_lite.store.rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    attempt_from_row,
    delivery_from_row,
)
from nexio_lite.webhooks.signing import new_webhook_id

INSERT_DELIVERIES = (
    "INSERT INTO deliveries (id, job_id, org_id, webhook_id, url, status, created_at, "
    "updated_at, next_attempt_at) "
    "SELECT id, job_id, org_id, webhook_id, url, 'pending', now, now, due FROM unnest("
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[]) "
    "WITH ORDINALITY AS v(id, job_id, org_id, webhook_id, url, now, due, ord) ORDER BY ord "
    f"RETURNING {DELIVERY_COLUMNS}"
)
CLAIM_DELIVERIES = (
    "WITH picked AS (SELECT seq AS pick FROM deliveries WHERE status='pending' "
    "AND next_attempt_at <= %s AND (lease_until IS NULL OR lease_until < %s) "
    "ORDER BY next_attempt_at, seq LIMIT %s FOR UPDATE SKIP LOCKED) "
    "UPDATE deliveries SET lease_until=%s, claim_token=replace(gen_random_uuid()::text, '-', '') "
    f"FROM picked WHERE seq=pick RETURNING seq, {DELIVERY_COLUMNS}, claim_token"
)
RECORD_ATTEMPTS = (
    "UPDATE deliveries d SET status=v.status, attempts=v.number, next_attempt_at=v.next_at, "
    "updated_at=v.updated, lease_until=NULL, claim_token=NULL FROM unnest("
    "%b::text[], %b::text[], %b::text[], %b::int[], %b::bigint[], %b::bigint[]) "
    "AS v(id, token, status, number, next_at, updated) "
    "WHERE d.id=v.id AND d.claim_token=v.token RETURNING d.id"
)
INSERT_ATTEMPTS = (
    f"INSERT INTO delivery_attempts (delivery_id, {ATTEMPT_COLUMNS}) SELECT * FROM unnest("
    "%b::text[], %b::int[], %b::bigint[], %b::int[], %b::text[], %b::bigint[], %b::text[])"
)

# (job_id, org_id, url, now, due) of a delivery to queue
NewDelivery = tuple[str, str, str, int, int]
AttemptItem = tuple[DeliveryClaim, DeliveryAttempt, DeliveryStatus, int | None]


async def insert_deliveries(c: Conn, new: list[NewDelivery]) -> list[Delivery]:
    """New pending deliveries (each a new webhook-id) of terminal jobs, in the caller's
    transaction; returned in the order given."""
    if not new:
        return []
    columns: list[list[object]] = [[], [], [], [], [], [], []]
    for job_id, org_id, url, now, due in new:
        row = (random_id("dlv_"), job_id, org_id, new_webhook_id(), url, now, due)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    cur = await c.execute(INSERT_DELIVERIES, columns)
    by_id = {r[0]: delivery_from_row(r) for r in await cur.fetchall()}
    return [by_id[i] for i in columns[0]]  # type: ignore[index]


async def _record_attempts(c: Conn, items: list[AttemptItem]) -> list[bool]:
    """Store the attempts whose claim still holds, with their delivery's new state."""
    cur = await c.execute(
        RECORD_ATTEMPTS,
        ([claim.delivery.id for claim, *_ in items], [claim.token for claim, *_ in items],
         [status.value for _, _, status, _ in items], [a.number for _, a, _, _ in items],
         [next_at for *_, next_at in items], [a.at + a.latency_ms for _, a, _, _ in items]),
    )  # fmt: skip
    held = {r[0] for r in await cur.fetchall()}
    kept, answers = [], []
    for item in items:
        ok = item[0].delivery.id in held
        held.discard(item[0].delivery.id)  # one claim recorded twice counts once
        answers.append(ok)
        if ok:
            kept.append(item)
    if kept:
        await c.execute(
            INSERT_ATTEMPTS,
            ([claim.delivery.id for claim, *_ in kept], [a.number for _, a, _, _ in kept],
             [a.at for _, a, _, _ in kept], [a.status_code for _, a, _, _ in kept],
             [a.error for _, a, _, _ in kept], [a.latency_ms for _, a, _, _ in kept],
             [a.response_excerpt for _, a, _, _ in kept]),
        )  # fmt: skip
    return answers


class DeliveriesMixin(PostgresBase):
    _attempts: Batcher[AttemptItem, bool]

    def _init_deliveries(self) -> None:
        async def run(items: list[AttemptItem]) -> list[bool]:
            return await self._run(lambda c: _record_attempts(c, items))

        self._attempts = Batcher(run, "attempts")

    # ---- webhook deliveries ----------------------------------------------------------

    async def add_delivery(self, org_id: str, job_id: str, now: int) -> Delivery:
        """A new delivery (new webhook-id) of a terminal job, due now. Raises NotFound
        for an unknown job and Conflict when it is not terminal or has no webhook URL."""

        async def op(c: Conn) -> Delivery:
            cur = await c.execute(
                "SELECT status, webhook_url FROM jobs WHERE id=%s AND org_id=%s FOR SHARE",
                (job_id, org_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"Job '{job_id}' not found")
            status, url = row
            if status not in ("completed", "failed"):
                raise Conflict(f"Job '{job_id}' is {status}: only a finished job is delivered")
            if not url:
                raise Conflict(f"Job '{job_id}' has no webhook_url")
            (delivery,) = await insert_deliveries(c, [(job_id, org_id, url, now, now)])
            return delivery

        delivery = await self._run(op)
        self.notifier.publish("deliveries", [job_id])
        return delivery

    async def list_deliveries(self, org_id: str, job_id: str) -> list[Delivery]:
        """The job's deliveries, oldest first, each with its attempts in order."""
        rows = await self._read(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE job_id=%s AND org_id=%s ORDER BY seq",
            (job_id, org_id),
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        history: dict[str, list[DeliveryAttempt]] = {i: [] for i in ids}
        for a in await self._read(
            f"SELECT delivery_id, {ATTEMPT_COLUMNS} FROM delivery_attempts "
            "WHERE delivery_id = ANY(%s) ORDER BY delivery_id, number",
            (ids,),
        ):
            history[a[0]].append(attempt_from_row(a[1:]))
        return [attrs.evolve(delivery_from_row(r), history=tuple(history[r[0]])) for r in rows]

    async def claim_deliveries(self, limit: int, now: int, lease_ms: int) -> list[DeliveryClaim]:
        """Take up to `limit` due pending deliveries whose previous attempt is not still
        in flight (an attempt lost in a crash is taken again once its lease expires);
        rows another process is taking at this moment are skipped, never waited for."""
        rows = await self._fetch(CLAIM_DELIVERIES, (now, now, limit, now + lease_ms))
        rows.sort(key=lambda r: r[0])
        return [DeliveryClaim(delivery_from_row(r[1:-1]), r[-1]) for r in rows]

    async def next_delivery_due(self) -> int | None:
        """When the next pending delivery can be attempted (ms), or None when none is."""
        row = await self._read_one(
            "SELECT min(greatest(next_attempt_at, coalesce(lease_until, 0))) FROM deliveries "
            "WHERE status='pending'"
        )
        return None if row is None or row[0] is None else int(row[0])

    async def record_attempt(
        self,
        claim: DeliveryClaim,
        attempt: DeliveryAttempt,
        status: DeliveryStatus,
        next_attempt_at: int | None,
    ) -> bool:
        """Store one attempt and the delivery's new state, only while the claim holds.
        Attempts recorded at the same moment share one transaction (batch.py)."""
        return await self._attempts.submit((claim, attempt, status, next_attempt_at))

    async def give_up_delivery(self, claim: DeliveryClaim, now: int) -> bool:
        """Mark a claimed delivery `failed` without an attempt (its schedule was shortened
        below the attempts it already had), only while the claim holds."""
        rows = await self._fetch(
            "UPDATE deliveries SET status='failed', next_attempt_at=NULL, updated_at=%s, "
            "lease_until=NULL, claim_token=NULL WHERE id=%s AND claim_token=%s RETURNING id",
            (now, claim.delivery.id, claim.token),
        )
        return bool(rows)

    async def count_deliveries(self, status: str | None = None) -> int:
        return await self._count("deliveries", status)
