"""A real local webhook receiver (aiohttp on 127.0.0.1) whose answers a test scripts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any

import attrs
from aiohttp import web


@attrs.define
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@attrs.define
class Receiver:
    """`script[path]` is a list of answers, used in order (the last one repeats): an int
    status, or a tuple (status, delay_seconds, extra_headers)."""

    script: dict[str, list[Any]] = attrs.field(factory=lambda: defaultdict(lambda: [200]))
    received: list[Received] = attrs.field(factory=list)
    base_url: str = ""
    arrived: asyncio.Event = attrs.field(factory=asyncio.Event)

    def on(self, path: str, *answers: Any) -> str:
        self.script[path] = list(answers)
        return self.base_url + path

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        self.arrived.set()
        answers = self.script[request.path]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        status, delay, headers = (answer, 0, {}) if isinstance(answer, int) else answer
        if delay:
            await asyncio.sleep(delay)
        if 300 <= status < 400:
            headers = {"Location": self.base_url + "/redirected", **headers}
        return web.Response(status=status, text=f"answer {status}", headers=headers)

    async def wait_for(self, count: int, path: str | None = None, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.at(path) if path else self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} requests arrived"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.2)
