"""The `nexio-lite` command (API.md §1): argument handling and calls, nothing more.

Every command exits non-zero with one line on stderr when its input is bad.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from nexio_lite import __version__
from nexio_lite.admin import Admin, DemoReady
from nexio_lite.config import Settings, load_settings
from nexio_lite.errors import NexioError
from nexio_lite.models import SCOPES, iso_ms
from nexio_lite.pipeline.pool import DEMO_POOL_ID, DEMO_SIZE, MAX_SIZE

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


async def _pools_import(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    pool = await admin.import_pool_file(args.org, args.pool, args.file, args.as_of)
    return [f"imported {pool.pool_id} version {pool.version}: {pool.size} carriers, "
            f"as of {pool.as_of}, sha256 {pool.sha256}"]  # fmt: skip


async def _pools_demo(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    pool = await admin.demo_pool(args.org, args.pool, args.size)
    return [f"{pool.pool_id} version {pool.version}: {pool.size} carriers, "
            f"as of {pool.as_of}, sha256 {pool.sha256}"]  # fmt: skip


async def _pools_list(admin: Admin, args: argparse.Namespace, _: Settings) -> list[str]:
    return ["\t".join([p.pool_id, str(p.version), str(p.size), p.as_of, p.sha256])
            for p in await admin.list_pools(args.org)]  # fmt: skip


async def _demo(admin: Admin, _: argparse.Namespace, settings: Settings) -> list[str]:
    ready = await admin.demo()
    return demo_text(ready, settings.base_url)


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
    "demo": _demo,
}
