"""The `nexio-lite` command (API.md §1): argument handling and calls, nothing more.

Every command exits non-zero with one line on stderr when its input is bad (`pools
import` adds one indented line per problem of the file below it, `rulebooks import` one
per problem with its JSON path). Work that takes
seconds (`pools import` of a big file, `pools demo --size 99999`) shows its progress on
stderr, only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self, TextIO

from nexio_lite import __version__
from nexio_lite.admin import IMPORTED_GENERATOR, Admin, DemoReady, RulebookImport
from nexio_lite.config import Settings, load_settings
from nexio_lite.errors import NexioError
from nexio_lite.models import SCOPES, PoolVersion, iso_ms
from nexio_lite.verticals.carriers.carriers_io import (
    PoolImportError,
    format_from_filename,
    parse_pool_file,
)
from nexio_lite.verticals.carriers.pool import (
    DEMO_AS_OF,
    DEMO_POOL_ID,
    DEMO_SIZE,
    GENERATOR,
    MAX_SIZE,
    generate_pool,
)
from nexio_lite.verticals.carriers.schema import Carrier
from nexio_lite.verticals.screen import MODEL_RULEBOOK_ID

ORG_RE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")


class UsageError(NexioError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"nexio-lite: {message} (see --help)\n")


def _org(value: str) -> str:
    if not ORG_RE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"invalid organization {value!r}: 1-64 lowercase letters, digits, '-' or '_'"
        )
    return value


def _pool_id(value: str) -> str:
    if not 1 <= len(value) <= 128 or not value.isprintable() or value != value.strip():
        raise argparse.ArgumentTypeError(f"invalid pool id {value!r}: 1-128 printable characters")
    return value


def _rulebook_id(value: str) -> str:
    if not 1 <= len(value) <= 128 or not value.isprintable() or value != value.strip():
        raise argparse.ArgumentTypeError(
            f"invalid rule book id {value!r}: 1-128 printable characters"
        )
    return value


def _scopes(value: str) -> tuple[str, ...]:
    scopes = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise argparse.ArgumentTypeError(
            f"invalid scopes {value!r}: use a comma-separated list of {', '.join(SCOPES)}"
        )
    return tuple(dict.fromkeys(scopes))


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else _bad_date(value)
    except ValueError:
        return _bad_date(value)


def _bad_date(value: str) -> NoReturn:
    raise argparse.ArgumentTypeError(f"invalid date {value!r}: use YYYY-MM-DD")


def _postgres_url(value: str) -> str:
    if not value.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(f"invalid --to {value!r}: use postgresql://…")
    return value


def _size(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"invalid size {value!r}: 1 to {MAX_SIZE}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nexio-lite", description="Self-hosted evaluation-jobs service.")
    p.add_argument("--version", action="version", version=f"nexio-lite {__version__}")
    p.add_argument("--config", help="configuration file (default: config.toml, or NEXIO_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the API, the workers and the webhook sender")
    serve.add_argument("--host", help="bind address (server.host)")
    serve.add_argument("--port", type=int, help="TCP port (server.port)")
    serve.add_argument("--role", choices=("all", "api", "worker"),
                       help="what this process runs (server.role, default all)")  # fmt: skip
    backup = sub.add_parser("backup", help="a consistent copy of the SQLite database")
    backup.add_argument("dest", help="the new file to write")
    migrate = sub.add_parser(
        "migrate-data", help="copy the SQLite database into an empty PostgreSQL database",
        description="Copy every row of the SQLite database (database.path) into a PostgreSQL "
        "database that has no nexio_lite tables yet, in one transaction, then compare the row "
        "counts of every table; after any failure the target is left as it was. The copy is "
        "one consistent snapshot taken as the command starts, even while a server runs on "
        "the file, but what a server writes after that moment is not copied: for an exact "
        "copy, stop every server on the file until the command ends (an --role api server "
        "too: it still accepts jobs).",
    )  # fmt: skip
    migrate.add_argument("--to", type=_postgres_url, required=True, metavar="postgresql://…",
                         help="the target database (create it first: createdb)")  # fmt: skip

    orgs = sub.add_parser("orgs", help="organizations").add_subparsers(dest="action", required=True)
    orgs.add_parser("create", help="create an organization").add_argument("org", type=_org)
    orgs.add_parser("rotate-secret", help="new webhook signing secret").add_argument(
        "org", type=_org
    )

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    kc = keys.add_parser("create", help="create an API key (printed once)")
    kc.add_argument("--org", type=_org, required=True)
    kc.add_argument("--scopes", type=_scopes, help=f"comma-separated: {','.join(SCOPES)}")
    kc.add_argument("--name", default="", help="a label for the key")
    keys.add_parser("list", help="list keys").add_argument("--org", type=_org, required=True)
    keys.add_parser("revoke", help="revoke a key").add_argument("key_id")

    pools = sub.add_parser("pools", help="carrier pools").add_subparsers(
        dest="action", required=True
    )
    pi = pools.add_parser("import", help="import a pool file (.csv, .json, .jsonl)")
    pi.add_argument("--org", type=_org, required=True)
    pi.add_argument("--pool", type=_pool_id, required=True)
    pi.add_argument("--as-of", type=_date, help="date of the data (default: today)")
    pi.add_argument("file", type=Path)
    pd = pools.add_parser("demo", help="generate the synthetic demo pool")
    pd.add_argument("--org", type=_org, required=True)
    pd.add_argument("--pool", type=_pool_id, default=DEMO_POOL_ID)
    pd.add_argument("--size", type=_size, default=DEMO_SIZE)
    pools.add_parser("list", help="list pools").add_argument("--org", type=_org, required=True)

    rulebooks = sub.add_parser("rulebooks", help="screening rule books").add_subparsers(
        dest="action", required=True
    )
    ri = rulebooks.add_parser("import", help="import a rule book file (JSON)")
    ri.add_argument("--org", type=_org, required=True)
    ri.add_argument("--rulebook", type=_rulebook_id, required=True, metavar="ID")
    ri.add_argument("file", type=Path)
    rd = rulebooks.add_parser("demo", help=f"import the model rule book ({MODEL_RULEBOOK_ID})")
    rd.add_argument("--org", type=_org, required=True)
    rd.add_argument("--rulebook", type=_rulebook_id, default=MODEL_RULEBOOK_ID, metavar="ID")
    rulebooks.add_parser("list", help="list rule books").add_argument(
        "--org", type=_org, required=True
    )

    sub.add_parser("demo", help="set up a demo organization, key and pool, and say how to call")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config, overrides=_overrides(args))
        if args.command == "serve":
            from nexio_lite import server

            return server.main(settings)
        if args.command == "migrate-data":
            from nexio_lite import migrate_data  # needs the postgres extra

            lines = migrate_data.run(settings, args.to)
        else:
            lines = asyncio.run(_admin_command(settings, args))
    except (NexioError, OSError) as exc:
        print(f"nexio-lite: {exc}", file=sys.stderr)
        return 1
    _print_lines(lines)
    return 0


def _print_lines(lines: list[str]) -> None:
    """Print `lines` on stdout. A reader that stops early (`| head -1`) is not an error:
    the command's work is done, so the rest of the output is dropped quietly and stdout
    is pointed at /dev/null, so the interpreter's final flush cannot fail either (the
    recipe of the Python docs, `signal` module, "Note on SIGPIPE")."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _need_database(settings: Settings, command: str) -> None:
    """A command that reads (`keys list`, `pools import`, ...) never creates an empty
    SQLite file where the configured one is missing: it says where it looked."""
    path = settings.database.path
    if command in CREATING_COMMANDS or settings.database.url or os.path.exists(path):
        return
    raise UsageError(
        f"no database at {os.path.abspath(path)}: create one with `nexio-lite demo` or "
        "`nexio-lite orgs create ORG`, or point database.path (NEXIO_DATABASE_PATH, "
        "--config) at yours"
    )


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    server: dict[str, Any] = {}
    if getattr(args, "host", None):
        server["host"] = args.host
    if getattr(args, "port", None) is not None:
        server["port"] = args.port
    if getattr(args, "role", None):
        server["role"] = args.role
    return {"server": server} if server else {}


# The commands that may start a new database; every other one needs an existing one.
CREATING_COMMANDS = frozenset({"orgs create", "demo"})


async def _admin_command(settings: Settings, args: argparse.Namespace) -> list[str]:
    command = f"{args.command} {getattr(args, 'action', '')}".strip()
    _need_database(settings, command)
    async with Admin.open(settings) as admin:
        handler = _HANDLERS[command]
        return await handler(admin, args, settings)


Handler = Callable[[Admin, argparse.Namespace, Settings], Awaitable[list[str]]]


async def _orgs_create(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    org = await admin.create_org(args.org)
    return [f"created organization {org.id}", "webhook signing secret:", org.webhook_secret]


async def _orgs_rotate(admin: Admin, args: argparse.Namespace, s: Settings) -> list[str]:
    org = await admin.rotate_secret(args.org)
    hours = s.webhooks.rotation_overlap_hours
    return [f"rotated the webhook secret of {org.id}; the previous one also signs for "
            f"{hours:g} hours", org.webhook_secret]  # fmt: skip


async def _keys_create(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    key, secret = await admin.create_key(args.org, args.scopes, args.name)
    return [key.id, f"organization: {key.org_id}", f"scopes: {','.join(key.scopes)}",
            "the key is shown once; only its hash is stored:", secret]  # fmt: skip


async def _keys_list(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    rows = []
    for k in await admin.list_keys(args.org):
        status = "active" if k.active else "revoked"
        fields = [k.id, k.name or "-", ",".join(k.scopes), iso_ms(k.created_at),
                  iso_ms(k.last_used_at) or "-", status]  # fmt: skip
        rows.append("\t".join(str(f) for f in fields))
    return rows


async def _keys_revoke(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    await admin.revoke_key(args.key_id)
    return [f"revoked {args.key_id}"]


class Progress:
    """One status line on stderr, rewritten in place while long work runs: what is being
    done, a count when there is one, and the seconds spent. Shown only when `stream` is a
    terminal (never in a log file, a pipe or captured output); erased when the work ends.

    `step` and `count` may be called from any thread; a ticker thread redraws the line
    every `TICK_SECONDS`, so the seconds move on while a step gives no count."""

    TICK_SECONDS = 0.5

    def __init__(self, command: str, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty()
        self.command = command
        self._started = time.monotonic()
        self._step = ""
        self._count = ""
        self._width = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.enabled and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()

    def step(self, text: str) -> None:
        """Start a step: `text` says what is being done."""
        with self._lock:
            self._step, self._count = text, ""
        self._draw()

    def count(self, n: int, what: str = "carriers read") -> None:
        """How far the current step has got."""
        with self._lock:
            self._count = f": {n:,} {what}"
        self._draw()

    def _tick(self) -> None:
        while not self._done.wait(self.TICK_SECONDS):
            self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._done.is_set():
                return
            seconds = time.monotonic() - self._started
            line = f"{self.command}: {self._step}{self._count} ({seconds:.0f} s)"
            self.stream.write("\r" + line.ljust(self._width))
            self.stream.flush()
            self._width = max(self._width, len(line))


def _pool_lines(pool: PoolVersion, verb: str) -> list[str]:
    return [f"{verb}{pool.pool_id} version {pool.version}: {pool.size} carriers, "
            f"as of {pool.as_of}, sha256 {pool.sha256}"]  # fmt: skip


def read_pool_file(path: Path, progress: Progress) -> list[Carrier]:
    """Every carrier of the pool file at `path`, or UsageError listing what is wrong with
    it (`PoolImportError.report`: each problem with its line, at most 50, then a count)."""
    try:
        fmt = format_from_filename(path.name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    progress.step(f"reading {path.name}")
    data = path.read_bytes()
    progress.step(f"checking {path.name}")
    try:
        return parse_pool_file(data, fmt, progress.count)
    except PoolImportError as exc:
        raise UsageError(exc.report(path.name)) from None


async def _pools_import(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    await admin.list_pools(args.org)  # an unknown organization is refused before any work
    with Progress("pools import") as progress:
        carriers = await asyncio.to_thread(read_pool_file, args.file, progress)
        progress.step(f"storing {len(carriers):,} carriers as {args.pool}")
        as_of = args.as_of or dt.date.today()
        pool = await admin.add_pool(args.org, args.pool, carriers, IMPORTED_GENERATOR, as_of)
    return _pool_lines(pool, "imported ")


async def _pools_demo(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    await admin.list_pools(args.org)  # an unknown organization is refused before any work
    with Progress("pools demo") as progress:
        progress.step(f"generating {args.size:,} carriers")
        carriers = await asyncio.to_thread(generate_pool, args.size)
        progress.step(f"storing {len(carriers):,} carriers as {args.pool}")
        pool = await admin.add_pool(args.org, args.pool, carriers, GENERATOR, DEMO_AS_OF)
    return _pool_lines(pool, "")


async def _pools_list(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    return ["\t".join([p.pool_id, str(p.version), str(p.size), p.as_of, p.sha256])
            for p in await admin.list_pools(args.org)]  # fmt: skip


def _rulebook_lines(done: RulebookImport) -> list[str]:
    v = done.version
    what = f"{v.rules} rules, {v.regulations} regulations, sha256 {v.sha256}"
    if done.created:
        return [f"imported {v.rulebook_id} version {v.version}: {what}"]
    return [f"{v.rulebook_id} version {v.version} already holds this content, no new "
            f"version: {what}"]  # fmt: skip


async def _rulebooks_import(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    return _rulebook_lines(await admin.import_rulebook_file(args.org, args.rulebook, args.file))


async def _rulebooks_demo(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    return _rulebook_lines(await admin.demo_rulebook(args.org, args.rulebook))


async def _rulebooks_list(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    return ["\t".join([b.rulebook_id, str(b.version), str(b.rules), str(b.regulations),
                       b.sha256]) for b in await admin.list_rulebooks(args.org)]  # fmt: skip


async def _demo(admin: Admin, _: argparse.Namespace, settings: Settings) -> list[str]:
    ready = await admin.demo()
    return demo_text(ready, settings.base_url)


def _demo_rulebook_lines(ready: DemoReady) -> list[str]:
    book = ready.rulebook
    if book is None:
        return []
    return [f"  rule book     {book.rulebook_id} v{book.version}, {book.rules} rules, "
            f"{book.regulations} regulations (the model rule book, for screening)"]  # fmt: skip


def demo_text(ready: DemoReady, base_url: str) -> list[str]:
    body = (
        '{"profile": {"entity": "acme-manufacturing", "state": "CA", '
        '"line": "professional_liability", "revenue": 12000000}, "pool": "carriers:all"}'
    )
    return [
        "nexio_lite demo is ready:",
        f"  organization  {ready.org_id} (webhook secret: {ready.webhook_secret})",
        f"  pool          {ready.pool.pool_id} v{ready.pool.version}, {ready.pool.size} "
        f"carriers, as of {ready.pool.as_of}",
        *_demo_rulebook_lines(ready),
        f"  API key       {ready.api_key}   (shown once; only its hash is stored)",
        "",
        "Submit the seed's example job (the answer holds its eval_id):",
        f"  KEY='{ready.api_key}'",
        f"  curl -s -X POST '{base_url}/api/v1/jobs' -H 'Content-Type: application/json' \\",
        f"       -H \"X-API-Key: $KEY\" -d '{body}'",
        "Then wait for it and read its audit trace (put the eval_id in EVAL_ID):",
        f'  curl -s "{base_url}/api/v1/jobs/$EVAL_ID?wait=30" -H "X-API-Key: $KEY"',
        f'  curl -s "{base_url}/traces/$EVAL_ID?level=summary" -H "X-API-Key: $KEY"',
        "A key for maintenance jobs (scope admin), with the same configuration:",
        "  nexio-lite keys create --org demo --scopes admin --name admin",
    ]


async def _backup(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    size = await admin.backup(args.dest)
    return [f"backed up the database to {args.dest} ({size:,} bytes)"]


_HANDLERS: dict[str, Handler] = {
    "backup": _backup,
    "orgs create": _orgs_create,
    "orgs rotate-secret": _orgs_rotate,
    "keys create": _keys_create,
    "keys list": _keys_list,
    "keys revoke": _keys_revoke,
    "pools import": _pools_import,
    "pools demo": _pools_demo,
    "pools list": _pools_list,
    "rulebooks import": _rulebooks_import,
    "rulebooks demo": _rulebooks_demo,
    "rulebooks list": _rulebooks_list,
    "demo": _demo,
}
