"""`nexio-lite serve`: start, run until SIGTERM or SIGINT, then drain and exit.

Start: the port is bound first, so a taken port fails at once, before anything else
runs; then the store is opened (a read-only or unreadable database fails here) and the
workers start; only then are connections accepted. A start that cannot succeed raises
`StartError` (or the store's error) with one line for the CLI to print, having claimed
no job and sent no webhook.

Stop: on the first signal, new connections are refused, `?wait` long-polls answer at
once, requests in flight get to finish, jobs in flight get `server.shutdown_grace_seconds`
and are then released to the queue. Whatever state the process is in, a watchdog ends it
(exit 0) `STOP_MARGIN_SECONDS` after the grace, and a second signal ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import threading
import time

from aiohttp import web

from nexio_lite import logs
from nexio_lite.app import create_app
from nexio_lite.config import Settings
from nexio_lite.errors import NexioError

log = logs.get_logger("nexio_lite.server")

STOP_MARGIN_SECONDS = 4.0  # the contract allows grace + 5 s; keep a second in hand
HTTP_SHUTDOWN_SECONDS = 1.0  # requests in flight at a signal (long-polls answer at once)


class StartError(NexioError):
    """The server cannot start (port taken, ...); the message is one line."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or StartError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def main(settings: Settings) -> int:
    """The `serve` command: 0 after a drain, 1 with one line on stderr when the start
    cannot succeed. Never left hanging by a thread that outlived the service."""
    try:
        serve(settings)
        code = 0
    except (NexioError, OSError) as exc:
        print(f"nexio-lite: {exc}", file=sys.stderr)
        code = 1
    _exit_if_threads_linger(code)
    return code


def serve(settings: Settings) -> None:
    """Blocks until a signal, then drains. Raises StartError/StoreError when the start
    cannot succeed."""
    logs.configure(settings.log.level, settings.log.format)
    sock = bind(settings.server.host, settings.server.port)
    try:
        asyncio.run(_serve(settings, sock))
    finally:
        sock.close()


async def _serve(settings: Settings, sock: socket.socket) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stop, settings)
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=HTTP_SHUTDOWN_SECONDS)  # fmt: skip
    try:
        await runner.setup()  # opens the store and starts the workers: may raise
        if not stop.is_set():
            await web.SockSite(runner, sock).start()
            # What the start made lives as long as the process (modules, the app, the
            # store): frozen, no collection walks it again. The collections while 4,000
            # queued jobs were scored took 33 ms, nearly all of it one full collection
            # walking all of that; 2.5 ms frozen.
            gc.collect()
            gc.freeze()
            log.info("listening", url=f"http://{settings.server.host}:{settings.server.port}",
                     public_url=settings.base_url)  # fmt: skip
            await stop.wait()
    finally:
        await runner.cleanup()


def _on_signal(stop: asyncio.Event, settings: Settings) -> None:
    if stop.is_set():
        log.warning("shutdown_forced", reason="second signal")
        _hard_exit(0)
    log.info("shutdown_started", grace_seconds=settings.server.shutdown_grace_seconds)
    stop.set()
    _start_watchdog(settings.server.shutdown_grace_seconds + STOP_MARGIN_SECONDS)


def _start_watchdog(seconds: float) -> None:
    """End the process after `seconds` whatever the event loop is doing."""

    def watch() -> None:
        time.sleep(seconds)
        log.error("shutdown_forced", reason="the drain did not end in time")
        _hard_exit(0)

    threading.Thread(target=watch, name="shutdown-watchdog", daemon=True).start()


def _exit_if_threads_linger(code: int) -> None:
    """After a clean stop nothing else runs; if a thread does (a database connection
    that could not close), do not let it keep the process alive."""
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and not t.daemon]  # fmt: skip
    if others:
        log.warning("threads_left_at_exit", threads=[t.name for t in others])
        _hard_exit(code)


def _hard_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
