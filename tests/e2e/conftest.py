"""Helpers to run the real `nexio-lite` command as a subprocess on 127.0.0.1, on SQLite or
on a fresh PostgreSQL database (`db_env`: the tests that make sense on both run on both)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import attrs
import psycopg
import pytest

from nexio_lite.config import DatabaseSettings
from nexio_lite.store import make_store
from nexio_lite.store.base import Store

SEED_BODY = {
    "profile": {"entity": "acme-manufacturing", "state": "CA",
                "line": "professional_liability", "revenue": 12000000},
    "pool": "carriers:all",
}  # fmt: skip


# The PostgreSQL server the tests create their databases on (trust auth; scripts/test
# starts it when it is down).
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgres")


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


def _postgres_admin() -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database; a server that cannot
    be reached fails the test with one clear line (never a skip)."""
    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({reason}): the PostgreSQL "
            "end-to-end tests need it; start it (scripts/test does) or set TEST_POSTGRES_URL",
            pytrace=False,
        )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database of this test, dropped afterwards
    (WITH (FORCE): the connections of processes still alive are closed first)."""
    name = f"nexio_e2e_{secrets.token_hex(6)}"
    with _postgres_admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}").geturl()
    finally:
        with _postgres_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def db_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment naming the test's database, one run per backend: nothing for SQLite
    (`cli_env`'s file), `NEXIO_DATABASE_URL` of a fresh database for PostgreSQL. A test
    names it before `server_factory`, so its processes stop before the database is dropped."""
    if request.param == "sqlite":
        return {}
    return {"NEXIO_DATABASE_URL": request.getfixturevalue("postgres_url")}


def is_postgres(env: Mapping[str, str]) -> bool:
    return bool(env.get("NEXIO_DATABASE_URL"))


@contextlib.asynccontextmanager
async def open_store(env: Mapping[str, str]) -> AsyncIterator[Store]:
    """The store on the database `env` names (as the CLI opens it), for checks from outside."""
    settings = DatabaseSettings(
        url=env.get("NEXIO_DATABASE_URL", ""), path=env["NEXIO_DATABASE_PATH"]
    )
    store = make_store(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


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
