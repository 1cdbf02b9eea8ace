"""Helpers to run the real `nexio-lite` command as a subprocess on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import attrs
import pytest

SEED_BODY = {
    "profile": {"entity": "acme-manufacturing", "state": "CA",
                "line": "professional_liability", "revenue": 12000000},
    "pool": "carriers:all",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXIO_")}
    env.update(
        NEXIO_CONFIG=str(tmp_path / "none.toml"),
        NEXIO_DATABASE_PATH=str(tmp_path / "nexio.db"),
        NEXIO_LOG_FORMAT="json",
    )
    env.update(extra)
    (tmp_path / "none.toml").touch()
    return env


async def run_cli(env: Mapping[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexio_lite", *args, env=dict(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def demo_key(env: Mapping[str, str]) -> str:
    code, out, err = await run_cli(env, "orgs", "create", "acme")
    assert code == 0, err
    code, out, err = await run_cli(env, "pools", "demo", "--org", "acme")
    assert code == 0, err
    code, out, err = await run_cli(env, "keys", "create", "--org", "acme")
    assert code == 0, err
    return out.strip().splitlines()[-1]


@attrs.define
class Server:
    """One `nexio-lite serve` process; its log lines (JSON) are kept in `log_path`."""

    env: dict[str, str]
    port: int
    log_path: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nexio_lite", "serve", "--port", str(self.port),
            env=self.env, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
                try:
                    async with http.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("server did not become ready")

    async def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def events(self, name: str) -> list[dict]:
        found = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found


@pytest.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[type[Server]]:
    started: list[Server] = []

    class _Server(Server):
        async def start(self) -> None:
            started.append(self)
            await super().start()

    yield _Server
    for s in started:
        if s.proc is not None and s.proc.returncode is None:
            s.proc.send_signal(signal.SIGKILL)
            await s.proc.wait()
