"""The real `nexio-lite serve`: a SIGKILL loses no job, a SIGTERM drains cleanly; two
processes on one database (SQLite or PostgreSQL) survive the loss of either."""

from __future__ import annotations

import asyncio
import collections
import json
import signal
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from nexio_lite.store.base import Store

from .conftest import SEED_BODY, Server, cli_env, demo_key, free_port, open_store


async def _submit_many(url: str, key: str, n: int, webhook_url: str | None = None) -> list[str]:
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:

        async def one(i: int) -> str:
            body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=1_000_000 + i))
            if webhook_url:
                body["webhook_url"] = webhook_url
            async with http.post(f"{url}/api/v1/jobs", json=body) as resp:
                assert resp.status == 202, await resp.text()
                return str((await resp.json())["eval_id"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    """Running (a zombie left for an init that does not reap counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _count(store: Store) -> collections.Counter[str]:
    return collections.Counter(
        {s: await store.count_jobs(s) for s in ("queued", "processing", "completed", "failed")}
    )


async def _statuses(env: Mapping[str, str]) -> collections.Counter[str]:
    """How many jobs of the database `env` names are in each status."""
    async with open_store(env) as store:
        return await _count(store)


async def _wait_all_terminal(
    env: Mapping[str, str], n: int, timeout: float
) -> collections.Counter[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with open_store(env) as store:
        while True:
            counts = await _count(store)
            if counts["completed"] + counts["failed"] == n or loop.time() > deadline:
                return counts
            await asyncio.sleep(0.1)


async def _assert_each_completed_once(
    ids: list[str], servers: list[Server], victim: Server
) -> None:
    """Every job (all of them completed in the database, checked before) was completed by
    one process, none twice, by their `job_completed` log lines. A survivor writes its
    line just after the commit that the database check saw, so the lines are given a
    moment to arrive. A job whose line is still missing was one of the victim's last:
    SIGKILL came between the commit of its completion and the line (at most its 4
    slots)."""
    for _ in range(100):
        completions = collections.Counter(
            e["job_id"] for s in servers for e in s.events("job_completed")
        )
        unlogged = set(ids) - set(completions)
        if unlogged <= {e["job_id"] for e in victim.events("job_claimed")}:
            break
        await asyncio.sleep(0.05)
    assert set(completions) <= set(ids)
    assert max(completions.values()) == 1, "no job completed twice"
    assert unlogged <= {e["job_id"] for e in victim.events("job_claimed")}, unlogged
    assert len(unlogged) <= 4, unlogged


async def test_sigkill_while_processing_loses_no_job_and_runs_none_twice(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path, NEXIO_WORKERS_LEASE_SECONDS="1.5",
                  NEXIO_WORKERS_REAP_INTERVAL_SECONDS="0.2")  # fmt: skip
    key = await demo_key(env)
    first = server_factory(env, free_port(), tmp_path / "first.log")
    await first.start()
    ids = await _submit_many(first.url, key, 200)
    # Kill as soon as work is under way, while most jobs are still queued or processing.
    for _ in range(200):
        if first.events("job_claimed"):
            break
        await asyncio.sleep(0.01)
    assert first.proc is not None
    scorers = _children(first.proc.pid)
    assert scorers  # the scoring processes (and multiprocessing's resource tracker)
    await first.signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    for _ in range(100):  # orphaned scoring processes leave on their own
        if not any(_alive(pid) for pid in scorers):
            break
        await asyncio.sleep(0.1)
    assert not [pid for pid in scorers if _alive(pid)]
    at_kill = await _statuses(env)
    assert at_kill["queued"] + at_kill["processing"] > 0, at_kill  # the kill hit live work

    second = server_factory(env, free_port(), tmp_path / "second.log")
    await second.start()
    counts = await _wait_all_terminal(env, len(ids), timeout=60)
    assert counts["completed"] == 200, counts
    await _assert_each_completed_once(ids, [first, second], victim=first)
    await second.signal(signal.SIGTERM)
    assert await second.wait() == 0


async def test_sigterm_finishes_or_releases_in_flight_jobs_and_exits_0(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path)
    key = await demo_key(env)
    server = server_factory(env, free_port(), tmp_path / "serve.log")
    await server.start()
    ids = await _submit_many(server.url, key, 60)
    for _ in range(200):
        if server.events("job_claimed"):
            break
        await asyncio.sleep(0.01)
    await server.signal(signal.SIGTERM)
    assert await server.wait() == 0
    counts = await _statuses(env)
    assert counts["processing"] == 0, counts  # nothing left holding a lease
    assert sum(counts.values()) == len(ids)
    assert server.events("service_stopped")
    # Whatever was released is finished by the next start.
    again = server_factory(env, free_port(), tmp_path / "again.log")
    await again.start()
    assert (await _wait_all_terminal(env, len(ids), timeout=60))["completed"] == len(ids)


async def test_two_processes_one_killed_under_load_every_job_completes_once_and_is_delivered(
    tmp_path: Path, db_env: dict[str, str], server_factory: type[Server]
) -> None:
    """Two `serve` processes on one database; the one holding the maintenance lease is
    killed with SIGKILL while both work: the survivor takes the lease over, reaps the
    dead one's jobs, completes every job once and delivers every webhook."""
    received: collections.Counter[str] = collections.Counter()

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received[json.loads(await request.read())["id"]] += 1
        return aiohttp.web.Response(status=204)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    hook_port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", hook_port).start()
    try:
        env = cli_env(tmp_path, **db_env, NEXIO_WORKERS_LEASE_SECONDS="1.5",
                      NEXIO_WORKERS_REAP_INTERVAL_SECONDS="0.2",
                      NEXIO_WORKERS_POLL_INTERVAL_SECONDS="0.1",
                      NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
                      # a delivery the victim held is retried when its lease (the
                      # timeout plus a margin) runs out
                      NEXIO_WEBHOOKS_TIMEOUT_SECONDS="2",
                      NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS="[0, 0.5, 1, 2, 4]")  # fmt: skip
        key = await demo_key(env)
        servers = [server_factory(env, free_port(), tmp_path / f"s{i}.log") for i in range(2)]
        for server in servers:
            await server.start()
        hook_url = f"http://127.0.0.1:{hook_port}/hook"
        ids = await _submit_many(servers[0].url, key, 100, hook_url)
        ids += await _submit_many(servers[1].url, key, 100, hook_url)
        for _ in range(100):  # both at work
            if all(s.events("job_claimed") for s in servers):
                break
            await asyncio.sleep(0.02)
        victim = next(s for s in servers if s.events("leadership_taken"))
        survivor = next(s for s in servers if s is not victim)
        await victim.signal(signal.SIGKILL)
        await victim.wait()
        counts = await _wait_all_terminal(env, len(ids), timeout=90)
        assert counts["completed"] == len(ids), counts
        await _assert_each_completed_once(ids, servers, victim=victim)
        # The lease passes once the victim's runs out (1.5 s after the kill): the jobs may
        # all be done before that, so the takeover is awaited, not assumed.
        for _ in range(100):
            if survivor.events("leadership_taken"):
                break
            await asyncio.sleep(0.1)
        assert survivor.events("leadership_taken")
        for _ in range(300):
            if set(received) >= set(ids):
                break
            await asyncio.sleep(0.1)
        assert set(received) == set(ids), "every job's webhook was delivered"
    finally:
        await runner.cleanup()
