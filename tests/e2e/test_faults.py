"""Faults done to a real `nexio-lite serve`: a full disk, a read-only database, a taken
port, a schedule shortened across a restart. The service recovers by itself, fails a
start that cannot succeed at once and cleanly, and loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from nexio_lite.models import DeliveryStatus, now_ms
from nexio_lite.store.sqlite import SqliteStore

from .conftest import SEED_BODY, Server, cli_env, demo_key, free_port

ENOSPC = 28


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` for the test (skipped where mounting is
    impossible: no root, or no mount namespace of our own)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_read_only(path: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True)
    assert done.returncode == 0, done.stderr


async def serve_until_exit(env: dict[str, str], port: int) -> tuple[int, str, float]:
    """Run `nexio-lite serve` expecting it to give up: (exit code, stderr, seconds)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexio_lite", "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("serve did not give up within 15 s") from None
    assert proc.returncode is not None
    return proc.returncode, err.decode(), time.monotonic() - started


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != ENOSPC:
                    raise
    return filler


async def _submit(http: aiohttp.ClientSession, url: str, i: int) -> aiohttp.ClientResponse:
    body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=2_000_000 + i))
    async with http.post(f"{url}/api/v1/jobs", json=body) as resp:
        await resp.read()
        return resp


async def _readyz(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(f"{url}/readyz") as resp:
        return resp.status, await resp.json()


async def _until_ready(http: aiohttp.ClientSession, url: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = await _readyz(http, url)
        if status == 200:
            return body
        assert time.monotonic() < deadline, f"still not ready: {body}"
        await asyncio.sleep(0.2)


async def test_a_full_disk_answers_503_and_every_accepted_job_completes_once_space_is_back(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    """200 jobs are accepted, then the disk fills while they run: new submits get 503,
    /readyz says why, results wait in memory; once space is back every job completes
    with no restart, and SIGTERM still drains in time."""
    with small_disk(tmp_path / "disk", "24m") as disk:
        env = cli_env(tmp_path, NEXIO_DATABASE_PATH=str(disk / "nexio.db"),
                      NEXIO_SERVER_SHUTDOWN_GRACE_SECONDS="2",
                      NEXIO_WORKERS_PROCESSES="1")  # fmt: skip
        key = await demo_key(env)
        server = server_factory(env, free_port(), tmp_path / "server.log")
        await server.start()
        wal = disk / "nexio.db-wal"
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            resp = await _submit(http, server.url, 0)
            assert resp.status == 202
            # Its scoring process has prepared the pool: the burst below runs while the
            # disk is full (on a slow machine the preparation alone outlasted the episode).
            async with http.get(
                f"{server.url}/api/v1/jobs/{(await resp.json())['eval_id']}?wait=30"
            ) as r:
                assert (await r.json())["status"] == "completed"
            # Once idle, the WAL is emptied: from then on every write needs new space.
            for _ in range(100):
                if wal.exists() and wal.stat().st_size == 0:
                    break
                await asyncio.sleep(0.05)
            burst = await asyncio.gather(*(_submit_id(http, server.url, i) for i in range(200)))
            accepted = [job_id for job_id in burst if job_id is not None]
            assert len(accepted) == 200
            filler = fill(disk)  # while most of the 200 are still queued or running

            answers = []
            for i in range(10):
                async with http.post(
                    f"{server.url}/api/v1/jobs",
                    json=dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=3_000_000 + i)),
                ) as resp:
                    body = await resp.json()
                    answers.append((resp.status, body, resp.headers.get("Retry-After")))
                    if resp.status == 202:
                        accepted.append(body["eval_id"])
            assert {status for status, _, _ in answers} <= {202, 503}, answers
            refused = [(b, ra) for s, b, ra in answers if s == 503]
            assert refused, "a full disk must refuse new jobs"
            body, retry_after = refused[0]
            assert body["error"]["code"] == "unavailable"
            assert retry_after is not None
            assert int(retry_after) >= 1

            status, ready = await _readyz(http, server.url)
            assert status == 503, ready
            assert "full" in ready["checks"]["database"]["error"]
            # A finished job's result could not be stored: it waits in memory, retried.
            for _ in range(200):
                if server.events("write_waiting") or server.events("loop_failed"):
                    break
                await asyncio.sleep(0.05)

            filler.unlink()
            await _until_ready(http, server.url, timeout=20)
            resp = await _submit(http, server.url, 99)  # and new work is taken again
            assert resp.status == 202
            for job_id in accepted:
                async with http.get(f"{server.url}/api/v1/jobs/{job_id}?wait=30") as r:
                    job = await r.json()
                assert job["status"] == "completed", job

        # Writes that could not be stored were held and retried, and loops that failed
        # (when they tried to write during the episode) came back on their own.
        assert server.events("write_waiting") or server.events("loop_failed")
        failed = {e["loop"] for e in server.events("loop_failed")}
        assert failed <= {e["loop"] for e in server.events("loop_recovered")}
        started = time.monotonic()
        await server.signal(signal.SIGTERM)
        assert await server.wait(timeout=2 + 5) == 0
        assert time.monotonic() - started < 7
        assert not server.events("request_failed"), "no 500 during the episode"


async def _submit_id(http: aiohttp.ClientSession, url: str, i: int) -> str | None:
    body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=4_000_000 + i))
    async with http.post(f"{url}/api/v1/jobs", json=body) as resp:
        return str((await resp.json())["eval_id"]) if resp.status == 202 else None


async def test_serve_on_a_read_only_database_exits_at_once_with_one_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "16m") as disk:
        env = cli_env(tmp_path, NEXIO_DATABASE_PATH=str(disk / "nexio.db"))
        await demo_key(env)
        remount_read_only(disk)
        code, stderr, seconds = await serve_until_exit(env, free_port())
    assert seconds < 10
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "read-only" in lines[0]
    assert "nexio.db" in lines[0]


async def test_serve_on_a_taken_port_exits_before_claiming_any_job(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path, NEXIO_WORKERS_CONCURRENCY="0")
    key = await demo_key(env)
    api_only = server_factory(env, free_port(), tmp_path / "api.log")
    await api_only.start()
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        resp = await _submit(http, api_only.url, 1)
        assert resp.status == 202
    await api_only.signal(signal.SIGTERM)
    assert await api_only.wait() == 0

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(env, NEXIO_WORKERS_CONCURRENCY="4")
        code, stderr, seconds = await serve_until_exit(env, port)
    assert seconds < 10
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]
    store = SqliteStore(str(tmp_path / "nexio.db"))
    await store.open()
    try:
        assert await store.count_jobs("queued") == 1
        assert await store.count_jobs("processing") == 0
    finally:
        await store.close()


async def test_a_shortened_schedule_ends_a_pending_delivery_as_failed_without_a_post(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    """Two attempts were made under a schedule of 3; after a restart with a schedule of
    2, the delivery is marked failed at once, recorded, and nothing more is POSTed."""
    posts: list[str] = []

    async def receiver(request: aiohttp.web.Request) -> aiohttp.web.Response:
        posts.append(request.headers["webhook-id"])
        return aiohttp.web.Response(status=500)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", receiver)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    hook_port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", hook_port).start()
    try:
        env = cli_env(tmp_path, NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
                      NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS="[0, 0.2, 3600]")  # fmt: skip
        key = await demo_key(env)
        first = server_factory(env, free_port(), tmp_path / "first.log")
        await first.start()
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            body = dict(SEED_BODY, webhook_url=f"http://127.0.0.1:{hook_port}/hook")
            async with http.post(f"{first.url}/api/v1/jobs", json=body) as resp:
                job_id = (await resp.json())["eval_id"]
            for _ in range(200):
                if len(posts) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert len(posts) == 2
        await first.signal(signal.SIGTERM)
        assert await first.wait() == 0

        env = dict(env, NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS="[0, 0.2]")
        second = server_factory(env, free_port(), tmp_path / "second.log")
        store = SqliteStore(str(tmp_path / "nexio.db"))
        await store.open()
        try:  # make the pending third attempt due now
            await store._write_returning(
                "UPDATE deliveries SET next_attempt_at=? RETURNING id", (now_ms(),)
            )
        finally:
            await store.close()
        await second.start()
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            for _ in range(100):
                async with http.get(f"{second.url}/api/v1/jobs/{job_id}/deliveries") as resp:
                    (delivery,) = (await resp.json())["data"]
                if delivery["status"] != DeliveryStatus.PENDING.value:
                    break
                await asyncio.sleep(0.05)
        assert delivery["status"] == "failed"
        assert len(delivery["attempts"]) == 2
        await asyncio.sleep(0.5)
        assert len(posts) == 2, "no attempt after the schedule was shortened"
        (given_up,) = second.events("webhook_given_up")
        assert given_up["reason"] == "schedule_exhausted"
        assert json.loads(json.dumps(given_up))["attempts"] == 2
    finally:
        await runner.cleanup()
