"""GET /traces/{eval_id}: the audit trace, recomputed on demand (API.md §8, DOMAIN.md §8)."""

from __future__ import annotations

import asyncio
import gzip
import json
import re

import pytest

from nexio_lite.api.traces import SEND_CHUNK_BYTES, TraceBusy, TraceSlots
from nexio_lite.verticals.carriers.schema import DIMENSIONS

from .conftest import World

RULES = [f"F{n:02d}" for n in range(1, 13)]


async def _completed(world: World, body: dict | None = None) -> dict:
    resp = await world.submit(body)
    return await world.wait_terminal((await resp.json())["eval_id"])


async def test_full_trace_explains_every_carrier(world: World) -> None:
    job = await _completed(world)
    resp = await world.client.get(f"/traces/{job['eval_id']}", headers=world.headers("tracer"))
    assert resp.status == 200
    assert resp.content_type == "application/json"
    trace = await resp.json()
    assert list(trace)[:10] == ["eval_id", "created_at", "vertical", "pool", "as_of",
                                "as_of_source", "profile", "defaults_applied", "constants",
                                "stages"]  # fmt: skip
    assert trace["eval_id"] == job["eval_id"]
    assert trace["created_at"] == job["created_at"]
    assert trace["vertical"] == {"id": "commercial_insurance", "rules_version": "ci-rules-v1"}
    assert trace["pool"]["sha256"] == (
        "7c4618a074fc7dc553368138bf46b4e38f7ad7e6e9c057438b40b8d6865bd94f"
    )
    assert (trace["as_of"], trace["as_of_source"]) == ("2025-06-30", "pool")
    assert trace["defaults_applied"] == ["admitted_only", "min_am_best", "requested_limit"]
    stages = trace["stages"]
    assert [s["name"] for s in stages] == ["validate", "load_pool", "filter", "score", "rank",
                                           "render"]  # fmt: skip
    assert all({"started_at", "duration_ms", "in", "out"} <= set(s) for s in stages)
    flt = next(s for s in stages if s["name"] == "filter")
    assert flt["removed"] == job["filtered"]
    assert len(flt["primary_reason_counts"]) == 12
    carriers = trace["carriers"]
    assert len(carriers) == job["pool_size"]
    assert [c["carrier_id"] for c in carriers] == sorted(c["carrier_id"] for c in carriers)
    assert all([r["rule"][:3] for r in c["rules"]] == RULES for c in carriers)
    first = next(c for c in carriers if c["carrier_id"] == "car_01205")
    assert (first["outcome"], first["rank"]) == ("candidate", 1)
    assert first["reasoning"] == job["candidates"][0]["reasoning"]
    assert sum(c["outcome"] == "filtered" for c in carriers) == job["filtered"]


async def test_trace_is_deterministic_for_the_same_request(world: World) -> None:
    a = await _completed(world)
    b = await _completed(world)
    ta = await (await world.client.get(f"/traces/{a['eval_id']}", headers=world.headers())).json()
    tb = await (await world.client.get(f"/traces/{b['eval_id']}", headers=world.headers())).json()
    for volatile in ("eval_id", "created_at", "stages"):
        ta.pop(volatile)
        tb.pop(volatile)
    assert ta == tb


async def test_summary_level_and_html_view(world: World) -> None:
    job = await _completed(world)
    url = f"/traces/{job['eval_id']}"
    summary = await (await world.client.get(url + "?level=summary", headers=world.headers())).json()
    assert "carriers" not in summary
    assert summary["candidates"][0]["carrier_id"] == "car_01205"
    resp = await world.client.get(url, headers=world.headers(Accept="text/html"))
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "Fablebridge Indemnity Company" in page
    assert job["eval_id"] in page
    bad = await world.client.get(url + "?level=everything", headers=world.headers())
    assert bad.status == 400


async def test_trace_needs_its_scope_and_its_organization(world: World) -> None:
    job = await _completed(world)
    url = f"/traces/{job['eval_id']}"
    assert (await world.client.get(url, headers=world.headers("reader"))).status == 403
    assert (await world.client.get(url)).status == 401
    other = await world.client.get(url, headers={"X-API-Key": world.other_org_key})
    assert other.status == 404
    assert (await world.client.get("/traces/eval_00000000000000000000",
                                   headers=world.headers())).status == 404  # fmt: skip


async def test_no_trace_before_the_job_completes(make_world) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(workers={"concurrency": 0})
    resp = await world.submit()
    eval_id = (await resp.json())["eval_id"]
    got = await world.client.get(f"/traces/{eval_id}", headers=world.headers())
    assert got.status == 404
    assert "queued" in (await got.json())["error"]["message"]


async def test_html_trace_is_paged_and_bounded(world: World) -> None:
    """100 candidates a page, with its place in the ranking said; the six dimensions are
    named columns; a page past the last, or a malformed one, is 400 before any scoring."""
    job = await _completed(world)  # the seed profile: 578 candidates, 6 pages
    url = f"/traces/{job['eval_id']}"
    html_headers = world.headers(Accept="text/html")
    resp = await world.client.get(url + "?page=2", headers=html_headers)
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    ranks = [int(r) for r in re.findall(r'<tr><td class="n">(\d+)</td>', page)]
    assert ranks == list(range(101, 201))
    assert "Showing 101\u2013200 of 578." in page
    assert 'href="?page=1"' in page
    assert 'href="?page=3"' in page
    assert all(f"<th>{d}</th>" in page for d in DIMENSIONS)
    assert "F03_STATE_NOT_AVAILABLE" in page  # the filtered carriers, counted by rule
    assert "E&amp;S" in page
    assert "E&S" not in page
    assert len(page.encode()) < 200_000
    last = await (await world.client.get(url + "?page=6", headers=html_headers)).text()
    assert "Showing 501\u2013578 of 578." in last
    first = await (await world.client.get(url, headers=html_headers)).text()
    assert "Showing 1\u2013100 of 578." in first
    assert "Fablebridge Indemnity Company" in first
    for bad in ("7", "0", "-1", "abc", "1.5", "２", "9" * 40, ""):
        got = await world.client.get(url, params={"page": bad}, headers=html_headers)
        assert got.status == 400, bad
        assert (await got.json())["error"]["code"] == "invalid_request"


async def test_full_json_trace_is_sent_gzipped_or_inflated(world: World) -> None:
    """The full trace comes from the scoring process gzipped: it is sent as it is to a
    client that accepts gzip and inflated (streamed) for one that does not; both are
    the same JSON."""
    job = await _completed(world)
    url = f"/traces/{job['eval_id']}"
    packed = await world.client.get(
        url, headers=world.headers(**{"Accept-Encoding": "gzip"}), auto_decompress=False
    )
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Content-Type"] == "application/json; charset=utf-8"
    gzipped = await packed.read()
    assert packed.headers["Content-Length"] == str(len(gzipped))
    plain = await world.client.get(url, headers=world.headers(**{"Accept-Encoding": "identity"}))
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Content-Type"] == "application/json; charset=utf-8"
    assert plain.headers["X-Request-Id"]
    body = await plain.read()
    assert len(body) > SEND_CHUNK_BYTES  # 3.8 MB, several writes
    assert gzip.decompress(gzipped) == body
    assert json.loads(body)["eval_id"] == job["eval_id"]
    refused = await world.client.get(url, headers=world.headers(**{"Accept-Encoding": "gzip;q=0"}))
    assert await refused.read() == body


async def test_trace_slots_bound_concurrency_and_hold_until_done() -> None:
    slots = TraceSlots(limit=1, wait_seconds=0.05)
    release = asyncio.Event()
    started: list[str] = []

    async def work(name: str) -> str:
        started.append(name)
        await release.wait()
        return name

    first = asyncio.create_task(slots.run(lambda: work("a")))
    await asyncio.sleep(0)
    with pytest.raises(TraceBusy):  # the only slot stays taken past the wait
        await slots.run(lambda: work("b"))
    first.cancel()  # the request goes away: its recomputation keeps the slot
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(TraceBusy):
        await slots.run(lambda: work("c"))
    assert started == ["a"]
    waiting = asyncio.create_task(slots.run(lambda: work("d")))
    await asyncio.sleep(0)
    release.set()
    assert await waiting == "d"
    assert started == ["a", "d"]
