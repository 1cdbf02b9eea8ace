"""A real `nexio-lite serve` whose scoring processes are stopped or killed: one bad child
holds nothing up, only its own job is retried (attempt counted), and it is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import SEED_BODY, Server, cli_env, demo_key, free_port, run_cli

BIG_POOL = "carriers:big"
BIG_SIZE = "50000"  # a scoring process takes ~1 s to read and prepare it: time to catch it busy


def _proc(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _state(pid: int) -> str:
    """R, S, D, T (stopped), Z; X once gone."""
    stat = _proc(pid, "stat")
    return stat.rsplit(b")", 1)[1].split()[0].decode() if stat else "X"


def _cpu_ticks(pid: int) -> int:
    fields = _proc(pid, "stat").rsplit(b")", 1)[-1].split()
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0


def _scoring_children(server_pid: int) -> list[int]:
    """The server's spawned scoring processes (not multiprocessing's resource tracker)."""
    pids = []
    for task in Path(f"/proc/{server_pid}/task").glob("*"):
        pids += [int(p) for p in _proc(int(task.name), f"task/{task.name}/children").split()]
    return sorted(p for p in set(pids) if b"spawn_main" in _proc(p, "cmdline"))


async def _eventually(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def signalled() -> Iterator[list[int]]:
    """Processes a test stopped: killed at the end (a stopped orphan would stay forever)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def _stop(pid: int, signalled: list[int]) -> None:
    signalled.append(pid)
    os.kill(pid, signal.SIGSTOP)
    await _eventually(lambda: _state(pid) == "T", 5, f"{pid} to stop")


async def _ready_server(server_factory: type[Server], tmp_path: Path, **env: str) -> Server:
    """A started server whose two scoring processes have prepared the demo pool."""
    base = cli_env(tmp_path, NEXIO_WORKERS_PROCESSES="2", **env)
    server = server_factory(base, free_port(), tmp_path / "serve.log")
    server.key = await demo_key(base)  # type: ignore[attr-defined]
    await server.start()
    await _eventually(lambda: server.events("scoring_warm"), 20, "the warm-up")
    assert server.proc is not None
    assert len(_scoring_children(server.proc.pid)) == 2
    return server


async def _big_pool(server: Server) -> None:
    """A pool no scoring process has prepared yet: its first job is slow."""
    code, _, err = await run_cli(server.env, "pools", "demo", "--org", "acme",
                                 "--pool", BIG_POOL, "--size", BIG_SIZE)  # fmt: skip
    assert code == 0, err


async def _submit(server: Server, n: int, pool: str = "carriers:all") -> list[str]:
    headers = {"X-API-Key": server.key}  # type: ignore[attr-defined]
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(i: int) -> str:
            body = {**SEED_BODY, "pool": pool,
                    "profile": {**SEED_BODY["profile"], "revenue": 2_000_000 + i}}  # fmt: skip
            async with http.post(f"{server.url}/api/v1/jobs", json=body) as resp:
                assert resp.status == 202, await resp.text()
                return str((await resp.json())["eval_id"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _finished(server: Server, ids: list[str], seconds: float) -> dict[str, dict]:
    """Each job's envelope once terminal (long-polls), within `seconds` overall."""
    headers = {"X-API-Key": server.key}  # type: ignore[attr-defined]
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(job_id: str) -> dict:
            while True:
                url = f"{server.url}/api/v1/jobs/{job_id}?wait=5"
                async with http.get(url) as resp:
                    body: dict = await resp.json()
                if body["status"] in ("completed", "failed"):
                    return body

        jobs = await asyncio.wait_for(asyncio.gather(*(one(i) for i in ids)), seconds)
    return dict(zip(ids, jobs, strict=True))


async def _busy_children(pids: list[int], n: int) -> list[int]:
    """The `n` scoring processes that are using CPU (scoring), found within 10 s: over
    0.1 s, at least 30 ms of CPU (an idle one uses none)."""

    async def busy() -> list[int]:
        before = {pid: _cpu_ticks(pid) for pid in pids}
        await asyncio.sleep(0.1)
        return [pid for pid in pids if _cpu_ticks(pid) - before[pid] >= 3]

    deadline = time.monotonic() + 10
    while len(found := await busy()) < n:
        assert time.monotonic() < deadline, "no scoring process got busy"
    return found[:n]


async def test_a_stopped_idle_scoring_process_holds_up_no_job(
    tmp_path: Path, server_factory: type[Server], signalled: list[int]
) -> None:
    server = await _ready_server(server_factory, tmp_path, NEXIO_WORKERS_JOB_TIMEOUT_SECONDS="3")
    assert server.proc is not None
    stopped, working = _scoring_children(server.proc.pid)
    await _stop(stopped, signalled)
    started = time.monotonic()
    jobs = await _finished(server, await _submit(server, 20), seconds=15)
    assert {j["status"] for j in jobs.values()} == {"completed"}
    assert {j["attempts"] for j in jobs.values()} == {1}  # none was sent to the stopped one
    assert time.monotonic() - started < 10
    # Stopped past the job timeout: killed and replaced.
    await _eventually(lambda: _state(stopped) in "ZX", 10, "the stopped process to go")
    (timeout,) = server.events("scoring_process_timeout")
    assert timeout["pid"] == stopped
    children = await _eventually(
        lambda: len(c := _scoring_children(server.proc.pid)) == 2 and c, 10, "a replacement"
    )
    assert working in children
    assert stopped not in children


async def test_a_process_stopped_while_scoring_retries_only_its_job(
    tmp_path: Path, server_factory: type[Server], signalled: list[int]
) -> None:
    server = await _ready_server(server_factory, tmp_path, NEXIO_WORKERS_JOB_TIMEOUT_SECONDS="8")
    assert server.proc is not None
    children = _scoring_children(server.proc.pid)
    await _big_pool(server)
    (slow,) = await _submit(server, 1, pool=BIG_POOL)
    (victim,) = await _busy_children(children, 1)
    await _stop(victim, signalled)
    # The other process keeps scoring meanwhile, well before the stuck job's deadline.
    started = time.monotonic()
    others = await _finished(server, await _submit(server, 5), seconds=6)
    assert {(j["status"], j["attempts"]) for j in others.values()} == {("completed", 1)}
    assert time.monotonic() - started < 6
    # Past its deadline, the stuck job's process is killed and the job runs again.
    job = (await _finished(server, [slow], seconds=20))[slow]
    assert (job["status"], job["attempts"]) == ("completed", 2)
    assert [e["pid"] for e in server.events("scoring_process_timeout")] == [victim]
    assert [e.get("replaces") for e in server.events("scoring_process_started")].count(
        "timeout"
    ) == 1
    assert [e["job_id"] for e in server.events("job_released")] == [slow]


async def test_a_killed_scoring_process_retries_only_its_own_job(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    server = await _ready_server(server_factory, tmp_path)
    assert server.proc is not None
    children = _scoring_children(server.proc.pid)
    await _big_pool(server)
    slow = await _submit(server, 2, pool=BIG_POOL)  # one on each process
    await _busy_children(children, 2)
    victim = children[0]
    os.kill(victim, signal.SIGKILL)
    quick = await _submit(server, 5)
    jobs = await _finished(server, slow + quick, seconds=20)
    assert {j["status"] for j in jobs.values()} == {"completed"}
    assert sorted(j["attempts"] for j in jobs.values()) == [1, 1, 1, 1, 1, 1, 2]
    retried = [i for i, j in jobs.items() if j["attempts"] == 2]
    assert retried[0] in slow
    assert [e["pid"] for e in server.events("scoring_process_died")] == [victim]
    completions = [e["job_id"] for e in server.events("job_completed")]
    assert sorted(completions) == sorted(jobs)  # each completed once
    assert victim not in _scoring_children(server.proc.pid)


async def test_sigterm_ends_the_server_in_time_while_its_scoring_processes_are_stopped(
    tmp_path: Path, server_factory: type[Server], signalled: list[int]
) -> None:
    """Whatever state the scoring processes are in, SIGTERM drains and exits 0 within
    `server.shutdown_grace_seconds` + 5 s, and no scoring process is left behind."""
    server = await _ready_server(server_factory, tmp_path,
                                 NEXIO_SERVER_SHUTDOWN_GRACE_SECONDS="2")  # fmt: skip
    assert server.proc is not None
    children = _scoring_children(server.proc.pid)
    await _big_pool(server)
    (slow,) = await _submit(server, 1, pool=BIG_POOL)
    await _busy_children(children, 1)
    for pid in children:  # one stopped mid-job, the other idle
        await _stop(pid, signalled)
    started = time.monotonic()
    await server.signal(signal.SIGTERM)
    assert await server.wait(timeout=2 + 5) == 0
    assert time.monotonic() - started < 2 + 5
    await _eventually(lambda: all(_state(p) in "ZX" for p in children), 5, "children to go")
    assert server.events("service_stopped")
    print("LOG", server.log_path.read_text()[-6000:])
    assert [e["job_id"] for e in server.events("job_released")] == [slow]  # runs again later
