"""The supervised scoring pool: one pipe per child, deadlines, replacement, fair waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from nexio_lite.procpool import (
    InProcessPool,
    PoolClosed,
    ProcPool,
    RemoteError,
    ScoringProcessDied,
    ScoringTimeout,
)

from . import procpool_helpers as h


def _state(pid: int) -> str:
    """The process's state letter (R, S, T for stopped, Z), or X once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def _gone(pid: int) -> bool:
    """Not running any more (a zombie counts as gone)."""
    return _state(pid) in ("Z", "X")


async def _stop(pid: int, signalled: list[int]) -> None:
    """SIGSTOP `pid` and wait until it is stopped (delivery is not instantaneous)."""
    signalled.append(pid)
    os.kill(pid, signal.SIGSTOP)
    await _eventually(lambda: _state(pid) == "T")


async def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.05)


async def _pid_of_running_call(path: Path) -> int:
    await _eventually(path.exists)
    return int(path.read_text())  # noqa: ASYNC240 (a few bytes, written before)


@pytest.fixture
def signalled() -> Iterator[list[int]]:
    """Pids a test stopped or killed: SIGKILLed at the end, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
async def pool() -> AsyncIterator[ProcPool]:
    p = ProcPool(2, timeout=10.0, stop_grace_seconds=1.0)
    yield p
    p.close()


async def _pids(pool: ProcPool) -> tuple[int, int]:
    """Start both children and return their pids, by slot."""
    return await pool.call(h.pid, slot=0), await pool.call(h.pid, slot=1)


async def test_a_call_returns_its_value(pool: ProcPool) -> None:
    assert await pool.call(h.echo, {"a": [1, 2]}) == {"a": [1, 2]}
    assert pool.health().ok


async def test_an_exception_in_the_child_is_raised_as_itself(pool: ProcPool) -> None:
    with pytest.raises(h.Refused, match="no thanks") as info:
        await pool.call(h.refuse, "no thanks")
    assert "in refuse" in str(info.value.__cause__)  # the child's traceback
    with pytest.raises(RemoteError, match="could not be pickled"):
        await pool.call(h.unpicklable)
    assert await pool.call(h.echo, 1) == 1  # the child is still in step with its pipe
    assert pool.health().restarts == {"died": 0, "timeout": 0}


async def test_a_call_past_its_deadline_kills_and_replaces_its_child(pool: ProcPool) -> None:
    before = await _pids(pool)
    with capture_logs() as logs:
        started = time.monotonic()
        with pytest.raises(ScoringTimeout):
            await pool.call(h.sleep_then, 30, "late", seconds=0.5, slot=0)
        assert time.monotonic() - started < 3
    assert [e["pid"] for e in logs if e["event"] == "scoring_process_timeout"] == [before[0]]
    await _eventually(lambda: _gone(before[0]))
    after = await _pids(pool)
    assert after[0] != before[0]
    assert after[1] == before[1]
    assert pool.health().restarts == {"died": 0, "timeout": 1}


async def test_a_child_killed_mid_call_fails_that_call_only(
    pool: ProcPool, tmp_path: Path, signalled: list[int]
) -> None:
    await _pids(pool)
    note = tmp_path / "pid"
    doomed = asyncio.create_task(pool.call(h.note_pid_then_sleep, str(note), 30, "never"))
    victim = await _pid_of_running_call(note)
    other = asyncio.create_task(pool.call(h.sleep_then, 1.0, "other"))
    await asyncio.sleep(0.2)
    with capture_logs() as logs:
        signalled.append(victim)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(ScoringProcessDied):
            await doomed
        assert await other == "other"
    assert [e["pid"] for e in logs if e["event"] == "scoring_process_died"] == [victim]
    assert victim not in await _pids(pool)
    assert pool.health().restarts == {"died": 1, "timeout": 0}


async def test_a_stopped_idle_child_holds_up_no_call_and_is_replaced(
    pool: ProcPool, signalled: list[int]
) -> None:
    stopped, working = await _pids(pool)
    await _stop(stopped, signalled)
    started = time.monotonic()
    answers = await asyncio.gather(*(pool.call(h.pid, seconds=5) for _ in range(6)))
    assert set(answers) == {working}
    assert time.monotonic() - started < 3
    # Stopped for longer than its grace (1 s): killed and replaced.
    await _eventually(lambda: _gone(stopped))
    assert pool.health().restarts["timeout"] == 1
    assert stopped not in await _pids(pool)


async def test_a_child_stopped_mid_call_times_out_while_the_other_keeps_working(
    pool: ProcPool, tmp_path: Path, signalled: list[int]
) -> None:
    await _pids(pool)
    note = tmp_path / "pid"
    stuck = asyncio.create_task(
        pool.call(h.note_pid_then_sleep, str(note), 0.5, "late", seconds=2.0)
    )
    victim = await _pid_of_running_call(note)
    await _stop(victim, signalled)
    for i in range(5):  # the other child answers at once meanwhile
        assert await pool.call(h.echo, i, seconds=1.0) == i
    with pytest.raises(ScoringTimeout):
        await stuck
    await _eventually(lambda: _gone(victim))
    assert pool.health().restarts == {"died": 0, "timeout": 1}


async def test_calls_wait_their_turn_and_a_waiting_call_has_a_deadline_too() -> None:
    pool = ProcPool(1, timeout=10.0)
    try:
        await pool.call(h.pid)
        finished: list[int] = []

        async def one(i: int) -> None:
            finished.append(await pool.call(h.sleep_then, 0.1, i))

        tasks = []
        for i in range(4):
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(0.01)  # submitted in this order
        await asyncio.gather(*tasks)
        assert finished == [0, 1, 2, 3]
        busy = asyncio.create_task(pool.call(h.sleep_then, 1.0, "done"))
        await asyncio.sleep(0.1)
        with pytest.raises(ScoringTimeout):
            await pool.call(h.echo, "waits", seconds=0.3)
        assert await busy == "done"
        assert pool.health().restarts == {"died": 0, "timeout": 0}  # nobody was killed
    finally:
        pool.close()


async def test_a_large_answer_does_not_block_the_event_loop(pool: ProcPool) -> None:
    await _pids(pool)
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            worst = max(worst, time.monotonic() - before)

    ticks = asyncio.create_task(ticker())
    try:
        data = await pool.call(h.blob, 40_000_000)
    finally:
        done = True
        await ticks
    assert len(data) == 40_000_000
    assert worst < 0.5, worst  # the 40 MB are read in the child's pipe thread


async def test_a_cancelled_call_lets_its_child_finish_and_serve_again() -> None:
    pool = ProcPool(1, timeout=10.0)
    try:
        first = await pool.call(h.pid)
        task = asyncio.create_task(pool.call(h.sleep_then, 0.5, "abandoned"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.call(h.pid) == first  # the same child, in step with its pipe
    finally:
        pool.close()


async def test_close_always_returns_and_refuses_later_calls(
    tmp_path: Path, signalled: list[int]
) -> None:
    pool = ProcPool(2, timeout=30.0)
    stopped, busy = await _pids(pool)
    signalled.append(busy)
    await _stop(stopped, signalled)
    running = asyncio.create_task(pool.call(h.sleep_then, 30, "never", slot=1))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, pool.close)
    assert time.monotonic() - started < 4
    assert _gone(stopped)
    assert _gone(busy)
    with pytest.raises(PoolClosed):
        await running
    with pytest.raises(PoolClosed):
        await pool.call(h.echo, 1)


async def test_processes_zero_scores_in_a_thread() -> None:
    pool = InProcessPool()
    try:
        assert await pool.call(h.pid) == os.getpid()
        with pytest.raises(h.Refused):
            await pool.call(h.refuse, "no")
        assert pool.health().ok
    finally:
        pool.close()
