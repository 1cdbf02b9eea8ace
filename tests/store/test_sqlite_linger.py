"""The SQLite writer lets completions that arrive in a steady stream wait a moment for one
another (`core._Writer._linger`), so that several share a transaction; a lone
completion, or a trickle of them, never waits, and any other write ends a wait at once.

The wait is set long here (monkeypatched) so that what ends it is never the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexio_lite.models import Claim, NewJob
from nexio_lite.store.sqlite import SqliteStore, core

NOW = 1_750_000_000_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "linger.db"))
    await s.open()
    await s.create_org("acme", "whsec_dGVzdA==", NOW)
    try:
        yield s
    finally:
        await s.close()


async def _claims(store: SqliteStore, n: int, start: int = 0) -> list[Claim]:
    for i in range(start, start + n):
        await store.enqueue(NewJob(id=f"eval_{i:020d}", org_id="acme", type="evaluation",
                                   request="{}", created_at=NOW))  # fmt: skip
    claims = await store.claim(n, 30_000, NOW)
    assert len(claims) == n
    return claims


async def _stream(
    store: SqliteStore, claims: list[Claim], gap_s: float, more_coming: bool = True
) -> list[bool]:
    """Complete the claims one after another, `gap_s` apart, without waiting for each
    (marked `more_coming`, as a worker with other jobs in flight marks them)."""

    async def one(i: int, claim: Claim) -> bool:
        await asyncio.sleep(i * gap_s)
        return await store.complete(claim, "{}", None, NOW + 1, NOW + 1, more_coming=more_coming)

    return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(claims))))


def _writer(store: SqliteStore) -> core._Writer:
    assert store._writer is not None
    return store._writer


async def test_a_stream_of_completions_shares_transactions(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "LINGER_SECONDS", 1.0)
    claims = await _claims(store, 2 * core.LINGER_BATCH)
    commits = _writer(store).commits
    assert all(await _stream(store, claims, 0.0005))
    # the first few completions show the stream; then LINGER_BATCH to a transaction
    assert _writer(store).commits - commits <= 10
    assert _writer(store).lingered >= 1
    jobs = await store.get_jobs([c.job.id for c in claims])
    assert {j.status.value for j in jobs.values()} == {"completed"}


async def test_a_trickle_of_completions_never_waits(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "LINGER_SECONDS", 30.0)
    claims = await _claims(store, 8)
    commits = _writer(store).commits
    assert all(await _stream(store, claims, 0.05))  # 50 ms apart: not a stream
    assert _writer(store).lingered == 0
    assert _writer(store).commits - commits == 8


async def test_any_other_write_ends_the_wait(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "LINGER_SECONDS", 30.0)
    claims = await _claims(store, 8)
    streaming = asyncio.create_task(_stream(store, claims, 0.0005))
    await asyncio.sleep(0.2)
    assert not streaming.done()  # its last completions wait for more
    assert _writer(store).lingered >= 1
    t = time.monotonic()
    await store.enqueue(NewJob(id="eval_submitted", org_id="acme", type="evaluation",
                               request="{}", created_at=NOW))  # fmt: skip
    assert all(await streaming)
    assert time.monotonic() - t < 10  # the submit ended the 30 s wait


async def test_completions_not_marked_more_coming_never_wait(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A completion that the next one may wait on (its worker has nothing else in flight)."""
    monkeypatch.setattr(core, "LINGER_SECONDS", 30.0)
    claims = await _claims(store, 16)
    assert all(await _stream(store, claims, 0.0005, more_coming=False))
    assert _writer(store).lingered == 0
