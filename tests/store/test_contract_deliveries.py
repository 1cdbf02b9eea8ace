"""The outbox part of the Store contract: deliveries and their attempts."""

from __future__ import annotations

import pytest

from nexio_lite.errors import Conflict, NotFound
from nexio_lite.models import DeliveryAttempt, DeliveryStatus, NewJob
from nexio_lite.store.base import Store

NOW = 1_750_000_000_000
URL = "https://hooks.example.com/x"


async def _job(store: Store, i: int = 1, url: str | None = URL) -> str:
    job = NewJob(id=f"eval_{i:020d}", org_id="acme", type="evaluation", request="{}",
                 created_at=NOW, webhook_url=url)  # fmt: skip
    await store.enqueue(job)
    return job.id


@pytest.fixture
async def org(store: Store) -> Store:
    await store.create_org("acme", "whsec_dGVzdA==", NOW)
    return store


async def test_completion_writes_the_delivery_in_the_same_transaction(org: Store) -> None:
    job_id = await _job(org)
    await _job(org, 2, url=None)
    a, b = await org.claim(2, 30_000, NOW)
    assert await org.complete(a, "{}", None, NOW + 10, NOW + 15)
    assert await org.complete(b, "{}", None, NOW + 10, NOW + 15)
    (delivery,) = await org.list_deliveries("acme", job_id)
    assert delivery.status is DeliveryStatus.PENDING
    assert (delivery.url, delivery.next_attempt_at, delivery.attempts) == (URL, NOW + 15, 0)
    assert delivery.webhook_id.startswith("msg_")
    assert await org.count_deliveries() == 1  # the job without a URL gets none


async def test_refused_completion_writes_no_delivery(org: Store) -> None:
    await _job(org)
    (claim,) = await org.claim(1, 1_000, NOW)
    await org.reap(NOW + 5_000, max_attempts=5, deliver_at=NOW)
    assert not await org.complete(claim, "{}", None, NOW + 6_000, NOW + 6_000)
    assert await org.count_deliveries() == 0


async def test_reaper_failure_also_queues_the_delivery(org: Store) -> None:
    job_id = await _job(org)
    await org.claim(1, 1_000, NOW)
    report = await org.reap(NOW + 2_000, max_attempts=1, deliver_at=NOW + 2_000)
    assert report.failed == (job_id,)
    (delivery,) = await org.list_deliveries("acme", job_id)
    assert delivery.next_attempt_at == NOW + 2_000


async def test_due_deliveries_are_claimed_once_until_the_lease_expires(org: Store) -> None:
    job_id = await _job(org)
    (claim,) = await org.claim(1, 30_000, NOW)
    await org.complete(claim, "{}", None, NOW, NOW + 100)
    assert await org.claim_deliveries(10, NOW + 99, 1_000) == []  # not due yet
    assert await org.next_delivery_due() == NOW + 100
    (d,) = await org.claim_deliveries(10, NOW + 100, 1_000)
    assert d.delivery.job_id == job_id
    assert await org.claim_deliveries(10, NOW + 500, 1_000) == []  # in flight
    assert await org.next_delivery_due() == NOW + 1_100
    (again,) = await org.claim_deliveries(10, NOW + 1_101, 1_000)  # lease lost: taken again
    assert again.delivery.webhook_id == d.delivery.webhook_id
    assert again.token != d.token


async def test_attempts_are_recorded_in_order_with_the_new_state(org: Store) -> None:
    job_id = await _job(org)
    (claim,) = await org.claim(1, 30_000, NOW)
    await org.complete(claim, "{}", None, NOW, NOW)
    (d1,) = await org.claim_deliveries(1, NOW, 1_000)
    a1 = DeliveryAttempt(1, NOW, 500, None, 12, "oops")
    assert await org.record_attempt(d1, a1, DeliveryStatus.PENDING, NOW + 5_000)
    assert not await org.record_attempt(d1, a1, DeliveryStatus.PENDING, NOW + 5_000)
    (d2,) = await org.claim_deliveries(1, NOW + 5_000, 1_000)
    assert d2.delivery.attempts == 1
    a2 = DeliveryAttempt(2, NOW + 5_000, None, "timeout", 10_000, None)
    assert await org.record_attempt(d2, a2, DeliveryStatus.FAILED, None)
    (delivery,) = await org.list_deliveries("acme", job_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.history == (a1, a2)
    assert await org.next_delivery_due() is None
    assert await org.list_deliveries("other", job_id) == []


async def test_redelivery_needs_a_finished_job_with_a_url(org: Store) -> None:
    job_id = await _job(org)
    bare = await _job(org, 2, url=None)
    with pytest.raises(Conflict):
        await org.add_delivery("acme", job_id, NOW)  # still queued
    a, b = await org.claim(2, 30_000, NOW)
    await org.complete(a, "{}", None, NOW, NOW)
    await org.complete(b, "{}", None, NOW, NOW)
    with pytest.raises(Conflict):
        await org.add_delivery("acme", bare, NOW)
    with pytest.raises(NotFound):
        await org.add_delivery("other", job_id, NOW)
    extra = await org.add_delivery("acme", job_id, NOW + 7)
    first, second = await org.list_deliveries("acme", job_id)
    assert second.id == extra.id
    assert second.webhook_id != first.webhook_id
    assert (second.status, second.next_attempt_at) == (DeliveryStatus.PENDING, NOW + 7)
