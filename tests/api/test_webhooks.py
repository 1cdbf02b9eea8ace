"""Webhook delivery end to end: a real app, a real SQLite file, a real local receiver."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket

import pytest
from standardwebhooks.webhooks import Webhook

from nexio_lite.models import now_ms
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.webhooks import sender

from .conftest import SEED_BODY, World, WorldFactory
from .receiver import Receiver

FAST = {"allow_private_targets": True, "retry_schedule_seconds": [0, 0.2, 0.4],
        "timeout_seconds": 2.0}  # fmt: skip


async def _secret(world: World) -> str:
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        org = await store.get_org("acme")
    finally:
        await store.close()
    assert org is not None
    return org.webhook_secret


async def _submit(world: World, url: str) -> str:
    resp = await world.submit(dict(SEED_BODY, webhook_url=url))
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["eval_id"])


async def _deliveries(world: World, eval_id: str) -> list[dict]:
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}/deliveries", headers=world.headers())
    assert resp.status == 200
    return list((await resp.json())["data"])


async def _settled(world: World, eval_id: str, attempts: int) -> dict:
    """The job's first delivery once it is no longer pending and has `attempts` attempts."""
    data: list[dict] = []
    for _ in range(200):
        data = await _deliveries(world, eval_id)
        if data and len(data[0]["attempts"]) >= attempts and data[0]["status"] != "pending":
            return data[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery did not settle: {data}")


async def test_body_is_the_job_as_get_returns_it_and_verifies(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    eval_id = await _submit(world, receiver.on("/hook", 200))
    await receiver.wait_for(1, "/hook")
    (got,) = receiver.at("/hook")
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}", headers=world.headers())
    assert got.body == await resp.read()
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("nexio-lite/")
    payload = Webhook(await _secret(world)).verify(got.body, got.headers)
    assert payload["eval_id"] == eval_id
    assert payload["candidates"][0]["carrier_id"] == "car_01205"
    delivery = await _settled(world, eval_id, 1)
    assert delivery["status"] == "delivered"
    assert delivery["webhook_id"] == got.headers["webhook-id"]
    (attempt,) = delivery["attempts"]
    assert (attempt["status_code"], attempt["error"], attempt["response_excerpt"]) == (
        200, None, "answer 200")  # fmt: skip


async def test_500_500_200_is_three_attempts_with_one_webhook_id(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    eval_id = await _submit(world, receiver.on("/flaky", 500, 500, 200))
    await receiver.wait_for(3, "/flaky")
    delivery = await _settled(world, eval_id, 3)
    got = receiver.at("/flaky")
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["status"] == "delivered"
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    print(f"retry timeline (s between attempts 1-2, 2-3): {[round(g, 3) for g in gaps]}")
    # entry i of [0, 0.2, 0.4] (±10 %) is the delay before attempt i+1
    assert 0.17 <= gaps[0] <= 0.5
    assert 0.35 <= gaps[1] <= 0.7
    secret = await _secret(world)
    for r in got:
        Webhook(secret).verify(r.body, r.headers)


async def test_410_gives_up_after_one_attempt(make_world: WorldFactory, receiver: Receiver) -> None:
    world = await make_world(webhooks=FAST)
    eval_id = await _submit(world, receiver.on("/gone", 410))
    delivery = await _settled(world, eval_id, 1)
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == 1
    assert len(receiver.at("/gone")) == 1


async def test_timeout_is_recorded_and_retried(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=dict(FAST, timeout_seconds=0.3,
                                           retry_schedule_seconds=[0, 0.1]))  # fmt: skip
    eval_id = await _submit(world, receiver.on("/slow", (200, 1.0, {})))
    delivery = await _settled(world, eval_id, 2)
    assert [a["error"] for a in delivery["attempts"]] == ["timeout", "timeout"]
    assert [a["status_code"] for a in delivery["attempts"]] == [None, None]
    assert delivery["status"] == "failed"


async def test_redirect_is_not_followed(make_world: WorldFactory, receiver: Receiver) -> None:
    world = await make_world(webhooks=dict(FAST, retry_schedule_seconds=[0, 0.1]))
    eval_id = await _submit(world, receiver.on("/moved", 302))
    delivery = await _settled(world, eval_id, 2)
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 302]
    assert delivery["status"] == "failed"
    assert receiver.at("/redirected") == []


async def test_slow_receiver_does_not_hold_up_a_fast_one(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=dict(FAST, timeout_seconds=5.0))
    await _submit(world, receiver.on("/slow", (200, 3.0, {})))
    await receiver.wait_for(1, "/slow")
    fast_id = await _submit(world, receiver.on("/fast", 200))
    await receiver.wait_for(1, "/fast", timeout=2.5)
    delivery = await _settled(world, fast_id, 1)
    assert delivery["status"] == "delivered"
    assert receiver.at("/slow")[0].at < receiver.at("/fast")[0].at


@pytest.mark.parametrize("stale", [False, True])
async def test_a_claim_waiting_for_a_slot_goes_next_or_is_left_to_its_lease(
    make_world: WorldFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, stale: bool
) -> None:
    """One slot, held 1 s by a slow receiver; the next delivery waits in the buffer. It
    goes out as soon as the slot is free, unless it waited longer than STALE_MS: then it
    is not attempted, and is sent once its lease (timeout + margin) ran out, with the
    same webhook-id, once."""
    monkeypatch.setattr(sender, "LEASE_MARGIN_MS", 500)  # lease: 1.5 + 0.5 s
    if stale:
        monkeypatch.setattr(sender, "STALE_MS", 250)
    world = await make_world(webhooks=dict(FAST, concurrency=1, timeout_seconds=1.5))
    await _submit(world, receiver.on("/slow", (200, 1.0, {})))
    await receiver.wait_for(1, "/slow")
    eval_id = await _submit(world, receiver.on("/next", 200))
    await receiver.wait_for(1, "/next", timeout=5)
    delivery = await _settled(world, eval_id, 1)
    assert delivery["status"] == "delivered"
    (slow,) = receiver.at("/slow")
    (sent,) = receiver.at("/next")
    assert sent.headers["webhook-id"] == delivery["webhook_id"]
    gap = sent.at - slow.at  # the slot is free again ~1.0 s after the slow one arrived
    assert (gap > 1.6) if stale else (0.9 < gap < 1.4), gap


async def test_both_secrets_sign_during_a_rotation(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    old = await _secret(world)
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        rotated = await store.rotate_org_secret("acme", "whsec_bmV3c2VjcmV0a2V5MTIz", now_ms())
    finally:
        await store.close()
    new = rotated.webhook_secret
    await asyncio.sleep(2.1)  # the sender caches an organization's secrets for 2 s
    await _submit(world, receiver.on("/rotated", 200))
    await receiver.wait_for(1, "/rotated")
    (got,) = receiver.at("/rotated")
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)


async def test_redelivery_sends_again_with_a_new_webhook_id(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    eval_id = await _submit(world, receiver.on("/again", 200))
    await _settled(world, eval_id, 1)
    resp = await world.client.post(f"/api/v1/jobs/{eval_id}/deliveries/redeliver",
                                   headers=world.headers("writer"))  # fmt: skip
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "pending"
    assert body["delivery_id"].startswith("dlv_")
    await receiver.wait_for(2, "/again")
    first, second = receiver.at("/again")
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    assert first.body == second.body


async def test_a_cookie_set_by_a_receiver_is_never_sent_back(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    """One receiver's Set-Cookie must not reach a later delivery (to it or to another
    organization's receiver on the same host). `localhost`, not 127.0.0.1: a cookie jar
    ignores the cookies of an IP address anyway."""
    world = await make_world(webhooks=FAST)
    url = receiver.on("/cookie", (200, 0, {"Set-Cookie": "session=s3cret; Path=/"}))
    url = url.replace("127.0.0.1", "localhost")
    await _submit(world, url)
    await receiver.wait_for(1, "/cookie")
    await _submit(world, url)
    await receiver.wait_for(2, "/cookie")
    first, second = receiver.at("/cookie")
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    assert "Cookie" not in second.headers


async def test_redelivery_conflicts_and_scopes(make_world: WorldFactory) -> None:
    world = await make_world(webhooks=FAST, workers={"concurrency": 0})
    queued = await _submit(world, "http://127.0.0.1:9/never")
    url = f"/api/v1/jobs/{queued}/deliveries/redeliver"
    resp = await world.client.post(url, headers=world.headers())
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "conflict"
    assert (await world.client.post(url, headers=world.headers("reader"))).status == 403
    listing = f"/api/v1/jobs/{queued}/deliveries"
    assert (await world.client.get(listing, headers=world.headers("writer"))).status == 403
    other = await world.client.get(listing, headers={"X-API-Key": world.other_org_key})
    assert other.status == 404
    assert await _deliveries(world, queued) == []


async def test_job_without_webhook_url_cannot_be_redelivered(world: World) -> None:
    resp = await world.submit()
    eval_id = (await resp.json())["eval_id"]
    await world.wait_terminal(eval_id)
    again = await world.client.post(f"/api/v1/jobs/{eval_id}/deliveries/redeliver",
                                    headers=world.headers())  # fmt: skip
    assert again.status == 409


def _private_hostname() -> str | None:
    """This machine's own name, when it resolves to a loopback or private address."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)
    except OSError:
        return None
    addresses = {ipaddress.ip_address(i[4][0]) for i in infos}
    return name if addresses and all(not a.is_global for a in addresses) else None


@pytest.mark.skipif(_private_hostname() is None, reason="this machine's name is not private")
async def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    """The submit check cannot know where a name points; the connect-time guard does."""
    world = await make_world(webhooks=dict(FAST, allow_private_targets=False,
                                           retry_schedule_seconds=[0]))  # fmt: skip
    port = receiver.base_url.rsplit(":", 1)[1]
    eval_id = await _submit(world, f"http://{_private_hostname()}:{port}/hook")
    delivery = await _settled(world, eval_id, 1)
    assert delivery["attempts"][0]["error"] == "refused_address"
    assert receiver.received == []
