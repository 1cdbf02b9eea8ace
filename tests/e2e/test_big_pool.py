"""A real `nexio-lite serve` with a 99,999-carrier pool: /readyz says while the pool is
being prepared, and serving its trace (JSON and HTML) holds up no other request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from .conftest import SEED_BODY, Server, cli_env, demo_key, free_port, run_cli

BIG = "carriers:big"


async def test_a_99999_carrier_trace_never_holds_up_other_requests(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path, NEXIO_WORKERS_PROCESSES="1")
    key = await demo_key(env)
    code, _, err = await run_cli(env, "pools", "demo", "--org", "acme", "--pool", BIG,
                                 "--size", "99999")  # fmt: skip
    assert code == 0, err
    server = server_factory(env, free_port(), tmp_path / "serve.log")
    await server.start()
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        # The pool is prepared in the scoring process at start; /readyz says so.
        async with http.get(f"{server.url}/readyz") as resp:
            scoring = (await resp.json())["checks"]["scoring"]
        assert scoring["ok"] is True
        assert f"acme/{BIG} v1" in scoring.get("preparing", []), scoring

        async with http.post(f"{server.url}/api/v1/jobs", json=dict(SEED_BODY, pool=BIG)) as r:
            eval_id = (await r.json())["eval_id"]
        async with http.get(f"{server.url}/api/v1/jobs/{eval_id}?wait=60") as r:
            assert (await r.json())["status"] == "completed"
        async with http.get(f"{server.url}/readyz") as resp:
            assert "preparing" not in (await resp.json())["checks"]["scoring"]

        worst = 0.0
        done = asyncio.Event()

        async def probe() -> None:
            nonlocal worst
            while not done.is_set():
                started = time.monotonic()
                async with http.get(f"{server.url}/healthz") as resp:
                    assert resp.status == 200
                worst = max(worst, time.monotonic() - started)
                await asyncio.sleep(0.02)

        async def traces() -> tuple[int, int]:
            try:
                async with http.get(f"{server.url}/traces/{eval_id}",
                                    headers={"Accept": "text/html"}) as r:  # fmt: skip
                    assert r.status == 200
                    page = len(await r.read())
                async with http.get(f"{server.url}/traces/{eval_id}?level=full") as r:
                    assert r.status == 200
                    assert r.headers["Content-Encoding"] == "gzip"
                    await r.content.readany()  # the first bytes; the rest is not needed
                    sent = int(r.headers["Content-Length"])
                return page, sent
            finally:
                done.set()

        (page, sent), _ = await asyncio.gather(traces(), probe())
    # Before: rendering the page blocked the server 10-11 s (/healthz waited as long).
    assert worst < 1.0, f"/healthz waited {worst:.2f} s while the trace was served"
    assert page < 2_000_000, "one HTML page, not the whole trace"
    assert sent < 50_000_000, "the full JSON trace is sent gzip-encoded"
    for _ in range(200):  # the server notices the client that left (it read 1 chunk)
        if server.events("trace_send_aborted"):
            break
        await asyncio.sleep(0.05)
    assert server.events("trace_send_aborted")
    assert not server.events("request_failed"), "a client that leaves early is no error"
