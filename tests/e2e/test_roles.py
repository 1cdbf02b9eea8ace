"""Several real `nexio-lite serve` processes on one SQLite file: an `api` process and a
`worker` process share the work; `backup` copies the database while they serve."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiohttp

from .conftest import SEED_BODY, Server, cli_env, demo_key, free_port, run_cli


async def test_an_api_process_and_a_worker_process_share_one_sqlite_file(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path, NEXIO_WORKERS_POLL_INTERVAL_SECONDS="0.1")
    key = await demo_key(env)
    api = server_factory({**env, "NEXIO_SERVER_ROLE": "api"}, free_port(), tmp_path / "api.log")
    worker = server_factory({**env, "NEXIO_SERVER_ROLE": "worker"}, free_port(),
                            tmp_path / "worker.log")  # fmt: skip
    await api.start()
    await worker.start()
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        # The worker's port serves only the operations routes.
        async with http.get(f"{worker.url}/api/v1/pools") as resp:
            assert resp.status == 404
        async with http.get(f"{worker.url}/readyz") as resp:
            checks = (await resp.json())["checks"]
        assert {"dispatch", "webhooks", "reaper", "sweeper"} <= set(checks)
        async with http.get(f"{api.url}/readyz") as resp:
            checks = (await resp.json())["checks"]
        assert not {"dispatch", "webhooks", "reaper", "sweeper"} & set(checks)

        ids = []
        for i in range(10):
            body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=5_000_000 + i))
            async with http.post(f"{api.url}/api/v1/jobs", json=body) as resp:
                assert resp.status == 202
                ids.append((await resp.json())["eval_id"])
        # A long-poll on the api process hears of a job the worker process finished.
        started = time.monotonic()
        async with http.get(f"{api.url}/api/v1/jobs/{ids[-1]}?wait=30") as resp:
            job = await resp.json()
        assert job["status"] == "completed"
        assert time.monotonic() - started < 10
        for job_id in ids:
            async with http.get(f"{api.url}/api/v1/jobs/{job_id}?wait=10") as resp:
                assert (await resp.json())["status"] == "completed"
    claimed = {e["job_id"] for e in worker.events("job_claimed")}
    assert claimed == set(ids), "the worker process ran every job"
    assert api.events("job_claimed") == [], "the api process ran none"


async def test_backup_copies_the_database_while_the_server_serves(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path)
    key = await demo_key(env)
    server = server_factory(env, free_port(), tmp_path / "serve.log")
    await server.start()
    stop = asyncio.Event()
    accepted: list[str] = []

    async def submit_meanwhile() -> None:
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            i = 0
            while not stop.is_set():
                body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=6_000_000 + i))
                async with http.post(f"{server.url}/api/v1/jobs", json=body) as resp:
                    assert resp.status == 202
                    accepted.append((await resp.json())["eval_id"])
                i += 1

    load = asyncio.create_task(submit_meanwhile())
    await asyncio.sleep(0.5)
    dest = tmp_path / "copy.db"
    code, out, err = await run_cli(env, "backup", str(dest))
    stop.set()
    await load
    assert code == 0, err
    assert f"backed up the database to {dest}" in out
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        orgs = conn.execute("SELECT id FROM orgs").fetchall()
    finally:
        conn.close()
    assert orgs == [("acme",)]
    assert 0 < copied <= len(accepted)
    code, _, err = await run_cli(env, "backup", str(dest))
    assert code != 0
    assert "exists" in err


async def test_three_processes_start_at_once_on_a_fresh_database(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    """Each migration is applied once, whoever gets there first; all three serve."""
    env = cli_env(tmp_path, NEXIO_WORKERS_POLL_INTERVAL_SECONDS="0.1")
    servers = [server_factory(env, free_port(), tmp_path / f"s{i}.log") for i in range(3)]
    await asyncio.gather(*(s.start() for s in servers))
    key = await demo_key(env)
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        for server in servers:
            async with http.post(f"{server.url}/api/v1/jobs", json=SEED_BODY) as resp:
                assert resp.status == 202
                job_id = (await resp.json())["eval_id"]
            async with http.get(f"{server.url}/api/v1/jobs/{job_id}?wait=20") as resp:
                assert (await resp.json())["status"] == "completed"
    conn = sqlite3.connect(tmp_path / "nexio.db")
    try:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
    finally:
        conn.close()
    assert versions == sorted(set(versions))
    assert len(versions) >= 5
