"""The contract every Store backend must keep (STYLE.md habit 1)."""

from __future__ import annotations

import asyncio

import pytest

from nexio_lite.errors import Conflict
from nexio_lite.models import ApiKey, JobStatus, NewJob
from nexio_lite.store.base import Store

NOW = 1_750_000_000_000


async def _org(store: Store, org_id: str = "acme") -> None:
    await store.create_org(org_id, "whsec_dGVzdA==", NOW)


def _job(i: int, org: str = "acme") -> NewJob:
    return NewJob(id=f"eval_{i:020d}", org_id=org, type="evaluation", request="{}",
                  created_at=NOW + i, pool_id="carriers:all", pool_version=1)  # fmt: skip


async def test_org_is_created_once(store: Store) -> None:
    await _org(store)
    org = await store.get_org("acme")
    assert org is not None
    assert org.webhook_secret == "whsec_dGVzdA=="
    with pytest.raises(Conflict):
        await _org(store)
    assert await store.get_org("nobody") is None


async def test_rotating_a_secret_keeps_the_previous_one(store: Store) -> None:
    await _org(store)
    org = await store.rotate_org_secret("acme", "whsec_bmV3", NOW + 1)
    assert (org.webhook_secret, org.previous_secret, org.secret_rotated_at) == (
        "whsec_bmV3", "whsec_dGVzdA==", NOW + 1)  # fmt: skip


async def test_keys_are_found_by_hash_listed_touched_and_revoked(store: Store) -> None:
    await _org(store)
    key = ApiKey("key_1", "acme", "ci", ("jobs:read",), NOW)
    await store.create_key(key, "hash-1")
    assert await store.find_key("hash-1") == key
    assert await store.find_key("hash-2") is None
    await store.touch_keys({"key_1": NOW + 5})
    await store.touch_keys({"key_1": NOW + 2})  # never goes back in time
    assert (await store.list_keys("acme"))[0].last_used_at == NOW + 5
    assert await store.revoke_key("key_1", NOW + 9)
    assert not await store.revoke_key("key_404", NOW + 9)
    found = await store.find_key("hash-1")
    assert found is not None
    assert found.revoked_at == NOW + 9
    assert not found.active


async def test_pool_versions_are_immutable_and_the_latest_is_current(store: Store) -> None:
    await _org(store)
    common = {"generator": "g", "size": 1, "as_of": "2025-06-30", "sha256": "x", "now": NOW}
    v1 = await store.add_pool_version("acme", "p", blob=b"one\n", **common)
    v2 = await store.add_pool_version("acme", "p", blob=b"two\n", **common)
    await store.add_pool_version("acme", "q", blob=b"q\n", **common)
    assert (v1.version, v2.version) == (1, 2)
    assert await store.current_pool("acme", "p") == v2
    assert await store.get_pool_version("acme", "p", 1) == v1
    assert await store.current_pool("acme", "nope") is None
    assert [(p.pool_id, p.version) for p in await store.list_pools("acme")] == [
        ("p", 2), ("q", 1)]  # fmt: skip
    assert await store.pool_blob("acme", "p", 1) == b"one\n"  # kept as given
    assert await store.pool_blob("acme", "p", 2) == b"two\n"
    assert await store.pool_blob("acme", "p", 3) is None


async def test_enqueued_job_is_read_back_only_by_its_organization(store: Store) -> None:
    await _org(store)
    await _org(store, "other")
    new = _job(1)
    await store.enqueue(new)
    got = await store.get_job("acme", new.id)
    assert got is not None
    assert (got.status, got.request, got.created_at, got.updated_at, got.attempts) == (
        JobStatus.QUEUED, new.request, new.created_at, new.created_at, 0)  # fmt: skip
    assert (got.pool_id, got.pool_version, got.started_at, got.result) == (
        "carriers:all", 1, None, None)  # fmt: skip
    assert await store.get_job("other", new.id) is None


async def test_concurrent_enqueues_all_commit(store: Store) -> None:
    await _org(store)
    await asyncio.gather(*(store.enqueue(_job(i)) for i in range(200)))
    assert await store.count_jobs("queued") == 200


async def test_one_bad_write_in_a_group_fails_alone(store: Store) -> None:
    """Writes waiting together share a transaction; one that fails (an unknown
    organization breaks the foreign key) must not take the others down with it."""
    await _org(store)
    stray = NewJob(id="eval_stray00000000000000", org_id="nobody", type="evaluation",
                   request="{}", created_at=NOW)  # fmt: skip
    results = await asyncio.gather(
        *(store.enqueue(_job(i)) for i in range(5)), store.enqueue(stray),
        return_exceptions=True,
    )  # fmt: skip
    assert results[:5] == [None] * 5
    assert isinstance(results[5], Conflict)
    assert await store.count_jobs() == 5


async def test_claim_takes_oldest_first_with_fresh_tokens(store: Store) -> None:
    await _org(store)
    for i in range(5):
        await store.enqueue(_job(i))
    claims = await store.claim(3, 30_000, NOW + 100)
    assert [c.job.id for c in claims] == [_job(i).id for i in range(3)]
    assert len({c.token for c in claims}) == 3
    assert all(c.job.status is JobStatus.PROCESSING and c.job.attempts == 1 for c in claims)
    assert all(c.job.lease_until == NOW + 30_100 for c in claims)
    rest = await store.claim(10, 30_000, NOW + 100)
    assert [c.job.id for c in rest] == [_job(3).id, _job(4).id]
    assert await store.claim(10, 30_000, NOW + 100) == []


async def test_concurrent_claims_never_share_a_job(store: Store) -> None:
    await _org(store)
    for i in range(50):
        await store.enqueue(_job(i))
    batches = await asyncio.gather(*(store.claim(7, 30_000, NOW) for _ in range(10)))
    ids = [c.job.id for b in batches for c in b]
    assert len(ids) == len(set(ids)) == 50


async def test_completion_is_accepted_only_with_the_current_token(store: Store) -> None:
    await _org(store)
    await store.enqueue(_job(1))
    (claim,) = await store.claim(1, 1_000, NOW)
    # The lease expires and the reaper requeues the job; another worker claims it.
    report = await store.reap(NOW + 2_000, max_attempts=3, deliver_at=NOW + 2_000)
    assert report.requeued == (claim.job.id,)
    (second,) = await store.claim(1, 1_000, NOW + 2_001)
    assert second.job.attempts == 2
    assert not await store.complete(claim, '{"x":1}', None, NOW + 2_002, NOW + 2_002)
    assert await store.complete(second, '{"x":2}', "[]", NOW + 2_003, NOW + 2_003)
    assert not await store.complete(second, '{"x":3}', "[]", NOW + 2_004, NOW + 2_004)
    job = await store.get_job("acme", claim.job.id)
    assert job is not None
    assert (job.status, job.result, job.completed_at) == (
        JobStatus.COMPLETED,
        '{"x":2}',
        NOW + 2_003,
    )
    assert job.claim_token is None


async def test_stale_and_current_completions_at_once_keep_the_current(store: Store) -> None:
    # The stale claim's completion and the current one arrive together (one batch on
    # SQLite's writer): the claim check compares each pair, not just the job id.
    await _org(store)
    await store.enqueue(_job(1))
    (stale,) = await store.claim(1, 1_000, NOW)
    await store.reap(NOW + 2_000, max_attempts=3, deliver_at=NOW + 2_000)
    (current,) = await store.claim(1, 1_000, NOW + 2_001)
    accepted = await asyncio.gather(
        store.complete(current, '{"x":2}', None, NOW + 2_002, NOW + 2_002),
        store.complete(stale, '{"x":1}', None, NOW + 2_002, NOW + 2_002),
    )
    assert accepted == [True, False]
    job = await store.get_job("acme", current.job.id)
    assert job is not None
    assert (job.status, job.result) == (JobStatus.COMPLETED, '{"x":2}')


async def test_renew_extends_only_leases_still_held(store: Store) -> None:
    await _org(store)
    await store.enqueue(_job(1))
    await store.enqueue(_job(2))
    a, b = await store.claim(2, 1_000, NOW)
    assert await store.fail(b, '{"code":"x","message":"m","details":{}}', NOW + 1, NOW + 1)
    assert await store.renew([a, b], 5_000, NOW + 500) == {a.job.id}
    assert (await store.reap(NOW + 2_000, 3, NOW)).requeued == ()  # renewed lease not expired


async def test_reaper_fails_a_job_after_max_attempts(store: Store) -> None:
    await _org(store)
    await store.enqueue(_job(1))
    t = NOW
    for attempt in range(1, 4):
        (claim,) = await store.claim(1, 1_000, t)
        assert claim.job.attempts == attempt
        t += 2_000
        report = await store.reap(t, max_attempts=3, deliver_at=t)
    assert report.failed == (claim.job.id,)
    job = await store.get_job("acme", claim.job.id)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert '"attempts_exhausted"' in job.error
    assert await store.claim(1, 1_000, t) == []


async def test_release_puts_the_job_back_in_the_queue(store: Store) -> None:
    await _org(store)
    await store.enqueue(_job(1))
    (claim,) = await store.claim(1, 30_000, NOW)
    assert await store.release(claim, NOW + 1)
    assert not await store.release(claim, NOW + 2)
    (again,) = await store.claim(1, 30_000, NOW + 3)
    assert again.job.id == claim.job.id


async def test_ping_answers(store: Store) -> None:
    assert await store.ping()
