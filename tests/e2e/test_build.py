"""The one-file distribution (scripts/build, deploy/).

`dist/nexio-lite.pyz`, copied alone into an empty folder and run by the bare CPython 3.11
this venv was made from, without its site-packages (everything must come from the file),
sets up an organization with the defaults (no config.toml), serves, completes a job in its
scoring processes and exits 0 on SIGTERM; its PostgreSQL driver and migrations work too.
"""

from __future__ import annotations

import asyncio
import os
import platform
import runpy
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import attrs
import pytest

from nexio_lite.client import AsyncClient

from .conftest import SEED_BODY, Server, free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 300  # a first build downloads the locked wheels; later ones take seconds
# The interpreter this venv was made from; -I -S: no PYTHON* variables, no user or system
# site-packages, so nothing the file needs can come from anywhere else.
BARE_PYTHON = (cast(str, getattr(sys, "_base_executable", "")) or sys.executable, "-I", "-S")


@pytest.fixture(scope="session")
def built_file() -> Path:
    """scripts/build, once a session. A build that fails (PyPI unreachable on a first
    build included) fails the tests that need it: never a skip."""
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "build")], cwd=ROOT, capture_output=True, text=True,
        timeout=BUILD_SECONDS, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"scripts/build exited {done.returncode}:\n{done.stdout}{done.stderr}")
    print(f"scripts/build took {time.monotonic() - started:.1f} s: {done.stdout.strip()}")
    return ROOT / "dist" / "nexio-lite.pyz"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without NEXIO_* or SHIV_* variables; the file unpacks under
    tmp_path (not ~/.shiv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXIO_", "SHIV_"))}
    env.update(SHIV_ROOT=str(tmp_path / "shiv"), **extra)
    return env


async def _run(file: Path, env: dict[str, str], *args: str) -> str:
    """`python nexio-lite.pyz ARGS` in the file's folder; its output, once it exited 0."""
    proc = await asyncio.create_subprocess_exec(
        *BARE_PYTHON, str(file), *args, cwd=file.parent, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"{' '.join(args)}: exit {proc.returncode}\n{err.decode()}"
    return out.decode()


@attrs.define
class FileServer(Server):
    """`python nexio-lite.pyz serve` in the file's folder (conftest's Server runs the
    package of this venv instead)."""

    file: Path = attrs.field(kw_only=True)

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *BARE_PYTHON, str(self.file), "serve", "--port", str(self.port),
                cwd=self.file.parent, env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
                try:
                    async with http.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"server not ready in 30 s: {self.log_path.read_text()[-2000:]}")


@pytest.mark.slow
async def test_the_file_alone_sets_up_serves_completes_a_job_and_stops(
    built_file: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(built_file) as archive:
        names = set(archive.namelist())
    for package in ("nexio_lite/store/sql", "nexio_lite/store/postgres/sql"):
        migrations = sorted((ROOT / package).glob("*.sql"))
        assert migrations
        assert {f"site-packages/{package}/{sql.name}" for sql in migrations} <= names

    folder = tmp_path / "empty"
    folder.mkdir()
    file = Path(shutil.copy2(built_file, folder))
    env = _env(tmp_path)
    assert "created organization acme" in await _run(file, env, "orgs", "create", "acme")
    assert "1847 carriers" in await _run(file, env, "pools", "demo", "--org", "acme")
    key = (await _run(file, env, "keys", "create", "--org", "acme")).splitlines()[-1]
    assert key.startswith("nx_live_")
    assert "nx_live_" in await _run(file, env, "demo")
    # The defaults: no config.toml needed, the database is nexio.db in the folder.
    assert {p.name for p in folder.iterdir()} <= {"nexio-lite.pyz", "nexio.db", "nexio.db-wal",
                                                  "nexio.db-shm"}  # fmt: skip
    assert (folder / "nexio.db").is_file()

    server = FileServer(env=env, port=free_port(), log_path=tmp_path / "serve.log", file=file)
    try:
        await server.start()
        async with AsyncClient(server.url, key) as client:
            profile = cast(dict[str, Any], SEED_BODY["profile"])
            submitted = await client.submit(profile=profile, pool=str(SEED_BODY["pool"]))
            job = await client.wait(submitted.id, timeout=60)
        assert job.status == "completed", job.error
        assert job.candidates
        # Scored by processes spawned from the file (workers.processes defaults to 2).
        assert server.events("scoring_process_started")
        await server.signal(signal.SIGTERM)
        assert await server.wait() == 0, server.log_path.read_text()[-2000:]
        assert server.events("service_stopped")
    finally:
        if server.proc is not None and server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()


@pytest.mark.slow
async def test_the_file_runs_on_postgresql(
    built_file: Path, tmp_path: Path, postgres_url: str
) -> None:
    """The PostgreSQL driver (psycopg with its binary part) and migrations are inside."""
    folder = tmp_path / "empty"
    folder.mkdir()
    file = Path(shutil.copy2(built_file, folder))
    env = _env(tmp_path, NEXIO_DATABASE_URL=postgres_url)
    assert "created organization acme" in await _run(file, env, "orgs", "create", "acme")
    assert "1847 carriers" in await _run(file, env, "pools", "demo", "--org", "acme")
    assert not (folder / "nexio.db").exists()


def test_the_preamble_refuses_another_python_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/preamble.py, run by the file before nexio-lite: this interpreter passes, any
    other version or platform gets one line naming what is needed."""
    preamble = runpy.run_path(str(ROOT / "deploy" / "preamble.py"))
    problem = cast(Callable[[], str | None], preamble["problem"])
    assert problem() is None
    monkeypatch.setattr(sys, "version_info", (3, 12, 0, "final", 0))
    assert problem() == f"this is CPython {platform.python_version()}"  # 3.11: the real one
