"""A kill -9 loses no webhook: after a restart every delivery reaches the receiver."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

from aiohttp import web

from .conftest import Server, cli_env, demo_key, free_port
from .test_crash_and_drain import _submit_many


class Receiver:
    def __init__(self) -> None:
        self.status = 503
        self.seen: dict[str, int] = {}  # webhook-id -> answer of its last request

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen[request.headers["webhook-id"]] = self.status
        return web.Response(status=self.status)


def _deliveries(db: str) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT webhook_id, status FROM deliveries"))
    finally:
        conn.close()


async def test_kill_9_with_200_pending_deliveries_loses_none(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        env = cli_env(
            tmp_path,
            NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
            NEXIO_WEBHOOKS_TIMEOUT_SECONDS="1",
            NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS="[0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1]",
        )
        key = await demo_key(env)
        db = env["NEXIO_DATABASE_PATH"]
        first = server_factory(env, free_port(), tmp_path / "first.log")
        await first.start()
        await _submit_many(first.url, key, 200, webhook_url=f"http://127.0.0.1:{port}/hook")
        for _ in range(600):  # every job done, its delivery written and tried at least once
            rows = _deliveries(db)
            if len(rows) == 200 and len(receiver.seen) == 200:
                break
            await asyncio.sleep(0.05)
        assert len(_deliveries(db)) == 200
        await first.signal(signal.SIGKILL)
        await first.wait()
        pending = [w for w, s in _deliveries(db).items() if s == "pending"]
        assert len(pending) == 200, "the receiver answered 503: all must still be pending"

        receiver.status = 200
        second = server_factory(env, free_port(), tmp_path / "second.log")
        await second.start()
        for _ in range(600):
            if all(s == "delivered" for s in _deliveries(db).values()):
                break
            await asyncio.sleep(0.05)
        final = _deliveries(db)
        assert set(final.values()) == {"delivered"}
        assert all(receiver.seen.get(w) == 200 for w in final)
        await second.signal(signal.SIGTERM)
        assert await second.wait() == 0
    finally:
        await runner.cleanup()
