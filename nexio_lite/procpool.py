"""A small supervised pool of spawned processes, one pipe each: no child can hold up another.

What is guaranteed:

- Each child has its own duplex pipe. A call is sent to one idle child and its answer is
  read from that child's pipe only, so a stopped, wedged or dead child affects the call it
  was running and nothing else.
- Every call has a deadline that covers both the wait for a free child and the run. When
  it passes while a child runs the call, that child is killed (SIGKILL) and replaced and
  the call raises `ScoringTimeout`; when it passes while the call still waits, the call
  raises `ScoringTimeout` and no child is touched.
- A child that dies (EOF on its pipe) is replaced; only its own call raises
  `ScoringProcessDied`.
- An idle child seen stopped (SIGSTOP; read from /proc on Linux) is given no calls, and
  is replaced once it has stayed stopped for `stop_grace_seconds`. A child stopped after
  a call was sent to it is found by that call's deadline.
- Calls wait in one first-come-first-served queue while every child is busy; a call may
  name the child (`slot`) it must run on.
- An exception raised by the called function is raised in the parent as itself, with the
  child's traceback as its `__cause__` (`RemoteError` when it cannot cross the pipe).
- The event loop never blocks on a pipe: calls and answers go through the pipes with
  the loop's non-blocking socket operations (no thread per call: a call costs the
  server ~25 µs of CPU, where a thread per child cost ~120 µs). A cancelled call lets
  its child finish and then frees it.
- `close()` ends every child within about `TERM_WAIT_SECONDS + KILL_WAIT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import attrs

from nexio_lite.errors import Unavailable
from nexio_lite.logs import get_logger

T = TypeVar("T")
log = get_logger("nexio_lite.procpool")

RESTART_REASONS = ("died", "timeout")
SUPERVISE_SECONDS = 1.0  # how often idle children are checked for death or a stop
TERM_WAIT_SECONDS = 2.0
KILL_WAIT_SECONDS = 1.0


class ScoringUnavailable(Unavailable):
    """The pool could not answer this call now; the same call may be sent again (an HTTP
    request that meets it answers 503 `unavailable` with Retry-After)."""

    retry_after_seconds = 2  # a replacement process starts in about a second


class ScoringTimeout(ScoringUnavailable):
    """The call passed its deadline (its child, if it had one, was killed and replaced)."""


class ScoringProcessDied(ScoringUnavailable):
    """The child running the call died during it (and was replaced)."""


class PoolClosed(ScoringUnavailable):
    """The pool is closed: no call is taken any more."""


class RemoteError(Exception):
    """An exception raised in a child that could not be sent back as itself; also the
    `__cause__` of one that could, carrying the child's traceback."""


# ---- the child's side ----------------------------------------------------------------


def _serve(
    conn: Connection, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    """A child's whole life: run one call at a time until its pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        conn.send_bytes(_answer(data))


def _answer(data: bytes) -> bytes:
    """("ok", value) or ("raised", exception, traceback text), pickled."""
    reply: tuple[Any, ...]
    try:
        fn, args = pickle.loads(data)
        reply = ("ok", fn(*args))
    except Exception as exc:
        reply = ("raised", exc, traceback.format_exc())
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        what = f"{type(reply[1]).__name__}: {reply[1]}"[:2000]
        error = RemoteError(f"the answer could not be pickled ({exc!r}): {what}")
        return pickle.dumps(("raised", error, reply[2] if len(reply) > 2 else ""))


# ---- the parent's side ---------------------------------------------------------------


def _frame(data: bytes) -> bytes:
    """`data` framed as `Connection.send_bytes` frames it (the child reads and writes
    with its `Connection`), in one piece: each write costs the child a wake-up."""
    n = len(data)
    head = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
    return head + data


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(ScoringTimeout("no scoring process was free before the deadline"))


async def _exchange(sock: socket.socket, frame: bytes, sent: int = 0) -> tuple[Any, ...]:
    """Send the rest of one call's `frame` (its first `sent` bytes are sent) and read the
    child's answer. EOFError or OSError means the child is gone."""
    loop = asyncio.get_running_loop()
    if sent < len(frame):
        await loop.sock_sendall(sock, memoryview(frame)[sent:])
    (size,) = struct.unpack("!i", await _read(sock, 4))
    if size == -1:
        (size,) = struct.unpack("!Q", await _read(sock, 8))
    answer = await _read(sock, size)
    try:
        reply: tuple[Any, ...] = pickle.loads(answer)
    except Exception as exc:
        return ("raised", RemoteError(f"the answer could not be unpickled: {exc!r}"), "")
    return reply


async def _read(sock: socket.socket, n: int) -> bytearray:
    loop = asyncio.get_running_loop()
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = await loop.sock_recv_into(sock, view[got:])
        if k == 0:
            raise EOFError("the scoring process closed its pipe")
        got += k
    return buf


@attrs.frozen
class PoolHealth:
    """What /readyz can show: children expected, alive, busy, seen stopped, calls waiting
    for a child, restarts by reason since start, and the children's pids. `ok` when
    every child started so far is alive and none is stopped."""

    processes: int
    alive: int
    busy: int
    stopped: int
    waiting: int
    restarts: dict[str, int]
    pids: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.alive == len(self.pids) and self.stopped == 0

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "ok": self.ok}


@attrs.define(eq=False)
class _Child:
    slot: int
    process: BaseProcess
    sock: socket.socket  # the parent's end of the child's pipe, non-blocking
    idle_since: float
    busy: bool = False
    retired: bool = False
    stopped_since: float | None = None
    exchange: asyncio.Future[tuple[Any, ...]] | None = None
    _stat: int | None = None  # an open /proc/<pid>/stat, read again for each check

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def stopped(self) -> bool:
        """Whether the process is stopped now (SIGSTOP, or by a tracer), read from its
        /proc stat, kept open; False where /proc is not."""
        try:
            if self._stat is None:
                self._stat = os.open(f"/proc/{self.pid}/stat", os.O_RDONLY)
            state = os.pread(self._stat, 512, 0).rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state in (b"T", b"t")

    def close(self) -> None:
        self.sock.close()
        if self._stat is not None:
            os.close(self._stat)
            self._stat = None


@attrs.define(eq=False)
class _Waiter:
    slot: int | None
    future: asyncio.Future[_Child]


class ProcPool:
    """`processes` spawned children, started on first use; see the module docstring."""

    def __init__(
        self,
        processes: int,
        *,
        timeout: float,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        stop_grace_seconds: float | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("a process pool needs at least one process")
        self.processes = processes
        self.timeout = timeout
        self.stop_grace = timeout if stop_grace_seconds is None else stop_grace_seconds
        self._context = multiprocessing.get_context("spawn")
        self._initializer = initializer
        self._initargs = initargs
        self._slots: list[_Child | None] = [None] * processes
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._restarts = dict.fromkeys(RESTART_REASONS, 0)
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticking = False

    async def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        seconds: float | None = None,
        slot: int | None = None,
    ) -> T:
        """`fn(*args)` in a child (`fn` and `args` must pickle) within `seconds` (the
        pool's `timeout` when None), on child `slot` when given."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if seconds is None else seconds)
        if slot is not None and not 0 <= slot < self.processes:
            raise ValueError(f"no slot {slot} in a pool of {self.processes}")
        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        if loop.time() >= deadline:
            raise ScoringTimeout("the deadline passed before the call was sent")
        child = await self._acquire(slot, deadline)
        reply = await self._run(child, data, deadline)
        if reply[0] == "ok":
            return reply[1]  # type: ignore[no-any-return]
        error: BaseException = reply[1]
        if reply[2]:
            error.__cause__ = RemoteError(reply[2])
        raise error

    def restarts(self) -> dict[str, int]:
        """Children replaced since start, by reason (`RESTART_REASONS`); cheap."""
        return dict(self._restarts)

    def health(self) -> PoolHealth:
        children = [c for c in self._slots if c is not None and not c.retired]
        return PoolHealth(
            processes=self.processes,
            alive=sum(c.process.exitcode is None for c in children),
            busy=sum(c.busy for c in children),
            stopped=sum(c.stopped_since is not None or c.stopped() for c in children),
            waiting=len(self._waiters),
            restarts=dict(self._restarts),
            pids=tuple(c.pid for c in children),
        )

    def close(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after `TERM_WAIT_SECONDS`) and refuse
        further calls. Returns within a few seconds whatever the children do; callable
        from any thread."""
        self._closed = True
        children = [c for c in self._slots if c is not None]
        for child in children:
            child.retired = True
            with contextlib.suppress(Exception):
                if child.process.exitcode is None:  # not reaped: the pid is still ours
                    child.process.terminate()
                    os.kill(child.pid, signal.SIGCONT)  # a stopped child sees its SIGTERM
        _join_all(children, TERM_WAIT_SECONDS)
        for child in children:
            if child.process.exitcode is None:
                with contextlib.suppress(Exception):
                    child.process.kill()
        _join_all(children, KILL_WAIT_SECONDS)
        # Pipes are closed on the loop's thread only (never under a pending read).
        loop = self._loop
        with contextlib.suppress(RuntimeError):
            if loop is not None and asyncio.get_running_loop() is loop:
                self._closed_on_loop(children)
                return
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._closed_on_loop, children)

    # ---- handing out children --------------------------------------------------------

    async def _acquire(self, slot: int | None, deadline: float) -> _Child:
        if self._closed:
            raise PoolClosed("the scoring pool is closed")
        loop = asyncio.get_running_loop()
        self._loop = loop
        if not self._ticking:
            self._ticking = True
            loop.call_later(SUPERVISE_SECONDS, self._tick)
        if not self._waiters and None not in self._slots:  # the common case: no queue
            child = self._usable(self._idle(), slot)
            if child is not None:
                child.busy = True
                return child
        waiter = _Waiter(slot, loop.create_future())
        self._waiters.append(waiter)
        self._dispatch()
        # The future itself is awaited (asyncio.wait would add a loop iteration between
        # a child freeing and this call getting it); the deadline ends it with
        # ScoringTimeout, and `_dispatch` skips a waiter whose future is done.
        timer = loop.call_at(deadline, _expire, waiter.future)
        try:
            return await waiter.future
        except BaseException:
            self._abandon(waiter)
            raise
        finally:
            timer.cancel()

    def _abandon(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            self._release(future.result())  # handed a child just as its caller gave up
        future.cancel()

    def _dispatch(self) -> None:
        """Give idle children to waiters in order, each checked alive and not stopped as
        it is handed out (the other checks run once a second: `_tick`); start children
        for empty slots."""
        if any(c is None for c in self._slots):
            self._supervise()
        idle = self._idle()
        served: list[_Waiter] = []
        for waiter in self._waiters:
            if not idle:
                break
            if waiter.future.done():
                served.append(waiter)
                continue
            child = self._usable(idle, waiter.slot)
            if child is not None:
                child.busy = True
                served.append(waiter)
                waiter.future.set_result(child)
        for waiter in served:
            self._waiters.remove(waiter)

    def _idle(self) -> list[_Child]:
        """The children free to take a call, longest idle first."""
        return sorted(
            (c for c in self._slots
             if c is not None and not (c.busy or c.retired or c.stopped_since is not None)),
            key=lambda c: c.idle_since,
        )  # fmt: skip

    def _usable(self, idle: list[_Child], slot: int | None) -> _Child | None:
        """The first of `idle` that may run a call for `slot`, taken out of `idle`; those
        found dead (replaced) or stopped (kept aside) on the way are taken out too."""
        for child in [c for c in idle if slot in (None, c.slot)]:
            idle.remove(child)
            if child.process.exitcode is not None:
                self._retire(child, "died")
            elif child.stopped():
                child.stopped_since = time.monotonic()
                log.warning("scoring_process_stopped", pid=child.pid, slot=child.slot)
            else:
                return child
        return None

    def _release(self, child: _Child) -> None:
        child.busy = False
        child.idle_since = time.monotonic()
        self._dispatch()

    def _closed_on_loop(self, children: list[_Child]) -> None:
        for child in children:
            if child.exchange is None:  # else `_exchanged` closes it when its thread ends
                self._dispose(child)
        while self._waiters:
            future = self._waiters.popleft().future
            if not future.done():
                future.set_exception(PoolClosed("the scoring pool is closed"))

    def _tick(self) -> None:
        if self._closed or self._loop is None:
            self._ticking = False
            return
        self._supervise()
        self._dispatch()
        self._loop.call_later(SUPERVISE_SECONDS, self._tick)

    # ---- running a call --------------------------------------------------------------

    async def _run(self, child: _Child, data: bytes, deadline: float) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        frame = _frame(data)
        try:  # at once: the task's first step would come a loop iteration later
            sent = child.sock.send(frame)
        except OSError:  # the pipe is full, or the child is gone: the exchange's send says
            sent = 0
        exchange = loop.create_task(self._converse(child, frame, sent),
                                    name=f"scoring-{child.slot}")  # fmt: skip
        child.exchange = exchange
        exchange.add_done_callback(functools.partial(self._exchanged, child))
        # Cancelling the caller leaves the exchange running: it frees the child itself.
        await asyncio.wait((exchange,), timeout=max(0.0, deadline - loop.time()))
        if self._closed and (not exchange.done() or exchange.exception() is not None):
            raise PoolClosed("the scoring pool was closed during the call")
        if not exchange.done():
            seconds = round(loop.time() - started, 3)
            self._retire(child, "timeout", seconds=seconds, stopped=child.stopped())
            self._dispatch()
            raise ScoringTimeout(f"the scoring call did not finish in {seconds} s")
        error = exchange.exception()
        if error is not None:
            raise ScoringProcessDied("the scoring process died during the call") from error
        return exchange.result()

    async def _converse(self, child: _Child, frame: bytes, sent: int) -> tuple[Any, ...]:
        """The rest of the call's frame sent, its answer read; then the child is handed to
        the next call in this same step (`_exchanged`, the done callback, would run a
        loop iteration later: on the path of every call while calls wait)."""
        reply = await _exchange(child.sock, frame, sent)
        if child.exchange is asyncio.current_task():
            child.exchange = None
            if child.retired:
                self._dispose(child)
            else:
                self._release(child)
        return reply

    def _exchanged(self, child: _Child, exchange: asyncio.Future[tuple[Any, ...]]) -> None:
        """The call is done with the child's pipe. An exchange that got its answer has
        freed the child itself (`_converse`); one that failed or was cancelled leaves it
        here, to be replaced (or disposed of, if it was retired meanwhile)."""
        error = _exception(exchange)  # retrieved here even when the caller is gone
        if child.exchange is not exchange:
            return
        child.exchange = None
        if child.retired:
            self._dispose(child)
            return
        self._retire(child, "died", error=repr(error))
        self._dispatch()

    # ---- starting and replacing children ---------------------------------------------

    def _supervise(self) -> None:
        """Start missing children; replace idle ones that died or stayed stopped; give a
        stopped one that was continued its calls again."""
        if self._closed:
            return
        now = time.monotonic()
        for slot, child in enumerate(self._slots):
            if child is None:
                self._spawn(slot)
            elif child.busy:
                continue
            elif child.process.exitcode is not None:
                self._retire(child, "died")
            elif not child.stopped():
                child.stopped_since = None
            elif child.stopped_since is None:
                child.stopped_since = now
                log.warning("scoring_process_stopped", pid=child.pid, slot=slot)
            elif now - child.stopped_since >= self.stop_grace:
                self._retire(child, "timeout", stopped=True, idle=True)
        multiprocessing.active_children()  # reap the children that were replaced

    def _spawn(self, slot: int, replaces: str | None = None) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve,
            args=(child_end, self._initializer, self._initargs),
            name=f"scoring-{slot}",
            daemon=True,
        )
        try:
            process.start()
        except OSError as exc:  # tried again at the next round of supervision
            log.error("scoring_process_start_failed", slot=slot, error=str(exc))
            parent_end.close()
            return
        finally:
            child_end.close()  # or the parent would never see EOF when the child dies
        sock = socket.socket(fileno=os.dup(parent_end.fileno()))
        parent_end.close()
        sock.setblocking(False)
        self._slots[slot] = _Child(slot, process, sock, time.monotonic())
        log.info("scoring_process_started", pid=process.pid, slot=slot, replaces=replaces)

    def _retire(self, child: _Child, reason: str, **fields: Any) -> None:
        """Kill `child` and start its replacement in the same slot (once per child)."""
        if child.retired:
            return
        child.retired = True
        exitcode = child.process.exitcode
        with contextlib.suppress(Exception):
            child.process.kill()
        self._restarts[reason] += 1
        event = "scoring_process_died" if reason == "died" else "scoring_process_timeout"
        log.error(event, pid=child.pid, slot=child.slot, busy=child.busy, exitcode=exitcode,
                  restarts=self._restarts[reason], **fields)  # fmt: skip
        if child.exchange is None:
            self._dispose(child)
        if self._slots[child.slot] is child:
            self._slots[child.slot] = None
            if not self._closed:
                self._spawn(child.slot, replaces=reason)

    @staticmethod
    def _dispose(child: _Child) -> None:
        child.close()


def _exception(future: asyncio.Future[Any]) -> BaseException | None:
    return None if future.cancelled() else future.exception()


def _join_all(children: list[_Child], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for child in children:
        with contextlib.suppress(Exception):
            child.process.join(max(0.0, deadline - time.monotonic()))


class InProcessPool:
    """`processes == 0`: calls run one at a time in one thread of this process. A thread
    cannot be stopped, so no deadline is enforced here (tests and small setups only)."""

    processes = 0

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="scoring")

    async def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        seconds: float | None = None,
        slot: int | None = None,
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def restarts(self) -> dict[str, int]:
        return dict.fromkeys(RESTART_REASONS, 0)  # a thread is never replaced

    def health(self) -> PoolHealth:
        return PoolHealth(0, 0, 0, 0, 0, self.restarts())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
