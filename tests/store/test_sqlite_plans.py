"""The SQLite store's hot path never walks a whole table: every statement that the
submit -> claim -> complete -> deliver cycle runs is looked up through an index, or scans
only a partial index (whose rows are the jobs or deliveries still in play, not history).

A statement that scans `jobs` or `deliveries` costs time in proportion to every job ever
kept; it passes every functional test and shows only as a service that slows down as its
history grows (a completion's claim check did this once)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

from nexio_lite.models import DeliveryAttempt, DeliveryStatus, NewJob
from nexio_lite.store.sqlite import SqliteStore

NOW = 1_750_000_000_000
URL = "https://hooks.example.com/x"
SCAN = re.compile(r"^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")


async def _traced_cycle(path: str) -> list[str]:
    """The statements (values bound) of a whole job and delivery cycle."""
    store = SqliteStore(path)
    await store.open()
    seen: list[str] = []
    for conn in (store._wconn, store._rconn):  # the write connection and the reader
        assert conn is not None
        await conn._execute(conn._conn.set_trace_callback, seen.append)
    try:
        await store.create_org("acme", "whsec_dGVzdA==", NOW)
        for i in range(4):
            await store.enqueue(NewJob(id=f"eval_{i:020d}", org_id="acme", type="evaluation",
                                       request="{}", created_at=NOW, webhook_url=URL))  # fmt: skip
        claims = await store.claim(4, 30_000, NOW)
        assert await store.renew(claims, 30_000, NOW + 1)
        # at once, as a busy service does: the writer runs them as one batch
        done = await asyncio.gather(
            *(store.complete(claim, "{}", None, NOW + 2, NOW + 2) for claim in claims[:3]),
            store.fail(claims[3], "boom", NOW + 2, NOW + 2),
        )
        assert all(done)
        deliveries = await store.claim_deliveries(10, NOW + 3, 10_000)
        assert len(deliveries) == 4
        attempt = DeliveryAttempt(1, NOW + 3, 200, None, 5, "ok")
        recorded = await asyncio.gather(
            *(store.record_attempt(d, attempt, DeliveryStatus.DELIVERED, None) for d in deliveries)
        )
        assert all(recorded)
        assert await store.get_job("acme", claims[0].job.id) is not None
        await store.queue_stats(NOW + 5)
        await store.next_delivery_due()
    finally:
        await store.close()
    return list(dict.fromkeys(seen))


def _partial_indexes(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
    return {name for name, sql in rows if " WHERE " in sql.upper()}


async def test_the_job_and_delivery_cycle_never_scans_a_whole_table(tmp_path: Path) -> None:
    path = str(tmp_path / "plans.db")
    statements = await _traced_cycle(path)
    db = sqlite3.connect(path)
    partial = _partial_indexes(db)
    assert {"jobs_queued", "jobs_leases"} <= partial  # what the claim and renew scan
    checked, scans = 0, []
    for sql in statements:
        if sql.split(None, 1)[0].upper() not in ("SELECT", "UPDATE", "DELETE", "WITH"):
            continue
        checked += 1
        for *_, detail in db.execute("EXPLAIN QUERY PLAN " + sql):
            m = SCAN.match(detail)
            if m and m[1] in ("jobs", "deliveries", "delivery_attempts") and m[2] not in partial:
                scans.append(f"{detail}: {sql[:120]}")
    db.close()
    assert checked >= 8
    assert scans == []
