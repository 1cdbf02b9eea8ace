"""The supervisor: loops survive errors, log once per streak, back off, recover, report."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from nexio_lite import supervisor as sup_module
from nexio_lite.errors import StoreUnavailable
from nexio_lite.supervisor import Supervisor, persist


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup_module, "BACKOFF_START", 0.001)
    monkeypatch.setattr(sup_module, "BACKOFF_CAP", 0.01)


async def _until(predicate, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_a_failing_loop_keeps_running_logs_once_and_recovers() -> None:
    rounds = 0
    broken = True

    async def round_() -> float | None:
        nonlocal rounds
        rounds += 1
        if broken:
            raise OSError(28, "No space left on device")
        return None

    supervisor = Supervisor()
    with capture_logs() as logs:
        supervisor.start("dispatch", round_, period=0.01)
        await _until(lambda: rounds >= 20)
        health = supervisor.health()["dispatch"]
        assert not health.ok
        assert health.error == "OSError: [Errno 28] No space left on device"
        broken = False
        await _until(lambda: supervisor.health()["dispatch"].ok)
        await supervisor.stop(1)
    failed = [e for e in logs if e["event"] == "loop_failed"]
    assert len(failed) == 1, "one log line per streak, not one per retry"
    assert failed[0]["loop"] == "dispatch"
    recovered = [e for e in logs if e["event"] == "loop_recovered"]
    assert len(recovered) == 1
    assert recovered[0]["failures"] >= 20


async def test_backoff_doubles_up_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup_module, "BACKOFF_START", 0.1)
    monkeypatch.setattr(sup_module, "BACKOFF_CAP", 0.4)
    loop = sup_module.Loop("x", lambda: asyncio.sleep(0), 1.0, lambda: 0.0)
    delays = [loop._failed(RuntimeError("boom")) for _ in range(6)]
    nominal = [0.1, 0.2, 0.4, 0.4, 0.4, 0.4]
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected * 0.8 <= delay <= expected * 1.2


async def test_a_wake_runs_the_next_round_at_once() -> None:
    rounds = 0

    async def round_() -> float | None:
        nonlocal rounds
        rounds += 1
        return None

    supervisor = Supervisor()
    loop = supervisor.start("webhooks", round_, period=60.0)
    await _until(lambda: rounds == 1)
    loop.wake()
    await _until(lambda: rounds == 2, seconds=1.0)
    await supervisor.stop(1)


async def test_a_loop_that_stops_completing_rounds_is_reported_overdue() -> None:
    now = [0.0]

    async def hangs() -> float | None:
        await asyncio.Event().wait()
        return None

    supervisor = Supervisor(clock=lambda: now[0])
    supervisor.start("reaper", hangs, period=5.0)
    await asyncio.sleep(0.01)
    assert supervisor.health()["reaper"].ok
    now[0] = 5.0 + 5.0 + 0.1  # the period, plus the grace, has passed without a round
    health = supervisor.health()["reaper"]
    assert not health.ok
    assert health.error is not None
    assert "no round completed" in health.error
    await supervisor.stop(0.05)  # cancels the hung round and still returns


async def test_stop_never_raises_what_a_loop_raised() -> None:
    async def explodes() -> float | None:
        raise KeyError("boom")

    supervisor = Supervisor()
    supervisor.start("sweeper", explodes, period=0.01)
    await asyncio.sleep(0.05)
    await supervisor.stop(1)
    assert all(loop.task is not None and loop.task.done() for loop in supervisor.loops.values())


async def test_persist_retries_while_the_database_is_unavailable() -> None:
    calls = 0

    async def complete() -> bool:
        nonlocal calls
        calls += 1
        if calls < 5:
            raise StoreUnavailable("database unavailable: database or disk is full")
        return True

    with capture_logs() as logs:
        assert await persist(complete, "job_completed", lambda: False, job_id="eval_x") is True
    assert calls == 5
    assert [e["event"] for e in logs] == ["write_waiting", "write_recovered"]


async def test_persist_gives_up_when_stopping() -> None:
    async def full() -> bool:
        raise StoreUnavailable("database unavailable: database or disk is full")

    with pytest.raises(StoreUnavailable):
        await persist(full, "job_completed", lambda: True)
