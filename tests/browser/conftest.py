"""The web console in a real browser: Debian's chromium, driven by Playwright for Python
(launched by path: this machine cannot download a browser build), against real
`nexio-lite serve` processes on 127.0.0.1, with axe-core (from npm) checking each page.

Tests here are synchronous (Playwright's sync API), so the servers, the CLI and a
webhook receiver are plain subprocesses and threads. Screenshots go to
`test-artifacts/screenshots/` (ignored by git); their paths are printed and listed in
`test-artifacts/screenshots/index.txt`.

chromium and axe-core are installed by scripts/test when missing; where they cannot be,
these tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE_DIR = ROOT / ".venv" / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH", ""), *CHROMIUM_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def axe_path() -> Path | None:
    """axe-core's browser script, installed from npm into .venv/axe when missing."""
    if not AXE_SCRIPT.exists() and shutil.which("npm"):
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR),
             "axe-core@4"],
            check=False, capture_output=True, timeout=300,
        )  # fmt: skip
    return AXE_SCRIPT if AXE_SCRIPT.exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one test module: Playwright's sync API runs an event loop of its own
    in this thread while it is open, which the asyncio tests of other modules must not
    meet."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "Debian's chromium is not installed and could not be (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def axe() -> Path:
    found = axe_path()
    if found is None:
        pytest.skip("axe-core could not be installed from npm (npm install axe-core)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXIO_")}
    (folder / "none.toml").touch()
    env.update(
        NEXIO_CONFIG=str(folder / "none.toml"),
        NEXIO_DATABASE_PATH=str(folder / "nexio.db"),
        NEXIO_LOG_FORMAT="json",
        NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",  # the receiver is on 127.0.0.1
        NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS="[0, 0.5]",
        NEXIO_WORKERS_POLL_INTERVAL_SECONDS="0.2",
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run a `nexio-lite` command; its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "nexio_lite", *args], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"nexio-lite {' '.join(args)}: {done.stderr}"
    return done.stdout


def new_key(env: dict[str, str], org: str, scopes: str, name: str) -> str:
    return cli(env, "keys", "create", "--org", org, "--scopes", scopes, "--name", name).split()[-1]


@attrs.define
class Served:
    """One `nexio-lite serve` process on 127.0.0.1."""

    env: dict[str, str]
    log_path: Path
    role: str = "all"
    port: int = attrs.field(factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_seconds: float = 60.0) -> Served:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nexio_lite", "serve", "--port", str(self.port),
                 "--role", self.role],
                env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        self.wait_ready(ready_seconds)
        return self

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {seconds} s")

    def get_json(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@attrs.define
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 200 and keeps what arrived."""

    port: int
    received: list[tuple[str, bytes]] = attrs.field(factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, count: int, seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} webhooks arrived"
            time.sleep(0.05)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append((self.path, body))
            answer = b"answer 200"
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    with (SCREENSHOTS / "index.txt").open("a") as index:
        index.write(f"{path}\n")
    print(f"screenshot: {path}")
    return path
