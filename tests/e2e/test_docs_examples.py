"""The examples of the docs, run as a reader runs them: the sample pool imported with the
real CLI, the worked example of docs/scoring.md submitted to a real server, and the
webhook receivers of docs/webhooks.md verifying deliveries that server makes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ..unit.test_docs import DOCS, code_blocks, marked_block
from .conftest import Server, cli_env, free_port, run_cli

SAMPLE = DOCS / "examples" / "pool-sample.csv"


async def _org_with_sample_pool(env: dict[str, str]) -> tuple[str, str]:
    """A fresh organization `acme` with the sample pool: (API key, webhook secret)."""
    code, out, err = await run_cli(env, "orgs", "create", "acme")
    assert code == 0, err
    secret = out.splitlines()[-1]
    args = ["--org", "acme", "--pool", "carriers:sample", "--as-of", "2025-06-30", str(SAMPLE)]
    code, out, err = await run_cli(env, "pools", "import", *args)
    assert code == 0, err
    assert out.startswith("imported carriers:sample version 1: 8 carriers, as of 2025-06-30")
    code, out, err = await run_cli(env, "keys", "create", "--org", "acme")
    assert code == 0, err
    return out.splitlines()[-1], secret


async def _submit_and_wait(server: Server, key: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"X-API-Key": key}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/v1/jobs", json=body, headers=headers) as r:
            assert r.status == 202, await r.text()
            eval_id = (await r.json())["eval_id"]
        async with http.get(f"{server.url}/api/v1/jobs/{eval_id}?wait=30", headers=headers) as r:
            job: dict[str, Any] = await r.json()
    assert job["status"] == "completed", job
    return job


async def test_the_sample_pool_imports_and_gives_the_worked_example_of_the_docs(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path)
    key, _ = await _org_with_sample_pool(env)
    server = server_factory(env, free_port(), tmp_path / "server.log")
    await server.start()

    request = json.loads(marked_block(DOCS / "scoring.md", "sample-request"))
    job = await _submit_and_wait(server, key, request)
    assert (job["pool_size"], job["filtered"], job["passed"]) == (8, 5, 3)
    assert job["candidates"] == json.loads(marked_block(DOCS / "scoring.md", "sample-candidates"))

    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/traces/{job['id']}?level=summary"
        async with http.get(url, headers={"X-API-Key": key}) as r:
            trace = await r.json()
    removed = next(s for s in trace["stages"] if s["name"] == "filter")["primary_reason_counts"]
    assert {rule[:3] for rule, n in removed.items() if n} == {"F01", "F02", "F03", "F05", "F07"}
    assert all(n in (0, 1) for n in removed.values())


async def _serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_the_webhook_receivers_of_the_docs_verify_real_deliveries(
    tmp_path: Path, server_factory: type[Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each receiver of docs/webhooks.md, run on this machine with the organization's
    secret, accepts the signed delivery of a job the real server finished."""
    env = cli_env(tmp_path, NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true")
    key, secret = await _org_with_sample_pool(env)
    server = server_factory(env, free_port(), tmp_path / "server.log")
    await server.start()
    request = json.loads(marked_block(DOCS / "scoring.md", "sample-request"))

    for code in code_blocks(DOCS / "webhooks.md", "python"):
        monkeypatch.setenv("WEBHOOK_SECRET", secret)
        example: dict[str, Any] = {"__name__": "docs_example"}
        exec(compile(code, "docs/webhooks.md", "exec"), example)
        port = free_port()
        runner = await _serve(example["app"], port)
        try:
            hook = f"http://127.0.0.1:{port}/hooks/nexio"
            job = await _submit_and_wait(server, key, {**request, "webhook_url": hook})
            for _ in range(200):
                if example["received"]:
                    break
                await asyncio.sleep(0.05)
        finally:
            await runner.cleanup()
        assert example["received"] == [job]
