"""The webhook outbox: deliveries and their attempts."""

from __future__ import annotations

import sqlite3

import attrs

from nexio_lite.errors import Conflict, NotFound
from nexio_lite.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryClaim,
    DeliveryStatus,
    random_id,
)
from nexio_lite.store.sqlite.core import (
    DELIVERY_COLUMNS,
    Batched,
    SqliteBase,
    _delivery,
    _fetchall,
    _held,
)
from nexio_lite.webhooks.signing import new_webhook_id


def _record_attempts(
    c: sqlite3.Connection,
    items: list[tuple[DeliveryClaim, DeliveryAttempt, DeliveryStatus, int | None]],
) -> list[bool]:
    held = _held(c, "deliveries", [(claim.delivery.id, claim.token) for claim, *_ in items])
    kept = [item for item in items if (item[0].delivery.id, item[0].token) in held]
    c.executemany(
        "UPDATE deliveries SET status=?, attempts=?, next_attempt_at=?, updated_at=?, "
        "lease_until=NULL, claim_token=NULL WHERE id=?",
        [(status.value, a.number, next_at, a.at + a.latency_ms, claim.delivery.id)
         for claim, a, status, next_at in kept],
    )  # fmt: skip
    c.executemany(
        "INSERT INTO delivery_attempts (delivery_id, number, at, status_code, error, "
        "latency_ms, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(claim.delivery.id, a.number, a.at, a.status_code, a.error, a.latency_ms,
          a.response_excerpt) for claim, a, _, _ in kept],
    )  # fmt: skip
    return [(item[0].delivery.id, item[0].token) in held for item in items]


def _insert_delivery(
    c: sqlite3.Connection, job_id: str, org_id: str, url: str, now: int, due: int
) -> str:
    """A new pending delivery (a new webhook-id) of the job's terminal state, due at `due`."""
    delivery_id = random_id("dlv_")
    c.execute(
        "INSERT INTO deliveries (id, job_id, org_id, webhook_id, url, status, created_at, "
        "updated_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        (delivery_id, job_id, org_id, new_webhook_id(), url, now, now, due),
    )
    return delivery_id


class DeliveriesMixin(SqliteBase):
    # ---- webhook deliveries ----------------------------------------------------------

    async def add_delivery(self, org_id: str, job_id: str, now: int) -> Delivery:
        """A new delivery (new webhook-id) of a terminal job, due now. Raises NotFound
        for an unknown job and Conflict when it is not terminal or has no webhook URL."""

        def op(c: sqlite3.Connection) -> str:
            rows = list(
                _fetchall(
                    c,
                    "SELECT status, webhook_url FROM jobs WHERE id=? AND org_id=?",
                    (job_id, org_id),
                )
            )
            if not rows:
                raise NotFound(f"Job '{job_id}' not found")
            status, url = rows[0]
            if status not in ("completed", "failed"):
                raise Conflict(f"Job '{job_id}' is {status}: only a finished job is delivered")
            if not url:
                raise Conflict(f"Job '{job_id}' has no webhook_url")
            return _insert_delivery(c, job_id, org_id, url, now, now)

        delivery_id = await self._write(op)
        self.notifier.publish("deliveries", [job_id])
        found = await self._read_one(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id=?", (delivery_id,)
        )
        assert found is not None  # written just above, and deliveries are only swept with jobs
        return _delivery(found)

    async def list_deliveries(self, org_id: str, job_id: str) -> list[Delivery]:
        """The job's deliveries, oldest first, each with its attempts in order."""
        rows = await self._read(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE job_id=? AND org_id=? ORDER BY seq",
            (job_id, org_id),
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        history: dict[str, list[DeliveryAttempt]] = {i: [] for i in ids}
        for a in await self._read(
            "SELECT delivery_id, number, at, status_code, error, latency_ms, response_excerpt "
            f"FROM delivery_attempts WHERE delivery_id IN ({marks}) ORDER BY delivery_id, number",
            ids,
        ):
            history[a[0]].append(DeliveryAttempt(*a[1:]))
        return [attrs.evolve(_delivery(r), history=tuple(history[r[0]])) for r in rows]

    async def claim_deliveries(self, limit: int, now: int, lease_ms: int) -> list[DeliveryClaim]:
        """Take up to `limit` due pending deliveries whose previous attempt is not still
        in flight (an attempt lost in a crash is taken again once its lease expires)."""

        rows = await self._write_returning(
            "UPDATE deliveries SET lease_until=?, claim_token=lower(hex(randomblob(16))) "
            "WHERE seq IN (SELECT seq FROM deliveries WHERE status='pending' "
            "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
            "ORDER BY next_attempt_at LIMIT ?) "
            f"RETURNING {DELIVERY_COLUMNS}, claim_token",
            (now + lease_ms, now, now, limit),
        )
        return [DeliveryClaim(_delivery(r[:-1]), r[-1]) for r in rows]

    async def next_delivery_due(self) -> int | None:
        """When the next pending delivery can be attempted (ms), or None when none is."""
        row = await self._read_one(
            "SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM deliveries "
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
        Attempts recorded at the same moment share three statements."""
        return bool(await self._write(Batched(_record_attempts, (claim, attempt, status,
                                                                  next_attempt_at))))  # fmt: skip

    async def give_up_delivery(self, claim: DeliveryClaim, now: int) -> bool:
        """Mark a claimed delivery `failed` without an attempt (its schedule was shortened
        below the attempts it already had), only while the claim holds."""
        rows = await self._write_returning(
            "UPDATE deliveries SET status='failed', next_attempt_at=NULL, updated_at=?, "
            "lease_until=NULL, claim_token=NULL WHERE id=? AND claim_token=? RETURNING id",
            (now, claim.delivery.id, claim.token),
        )
        return bool(rows)

    async def count_deliveries(self, status: str | None = None) -> int:
        return await self._count("deliveries", status)
