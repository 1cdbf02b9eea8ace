"""`nexio-lite migrate-data --to postgresql://…` (API.md §1): the SQLite database of the
configuration, copied into a PostgreSQL database that has no nexio_lite tables yet.

What it guarantees:

- **One snapshot.** The SQLite file is read in one read transaction, so the copy is the
  database as it was at one instant, even while a server writes to it (what a server
  writes after that instant is not copied: stop it for an exact copy).
- **No table left behind.** Every table of the SQLite schema is copied (`COPIED`, in
  foreign-key order), deliberately left out with a stated reason (`NOT_COPIED`), or
  schema bookkeeping (`schema_migrations`, SQLite's own `sqlite_*`). Any other table (one
  a later version added) makes the command refuse before the target is touched; so does a
  column that one side has and the other lacks.
- **All or nothing.** The emptiness check, the schema (the PostgreSQL backend's own
  migrations), every row, the identity sequences and the count check run in ONE
  PostgreSQL transaction holding the migrations' advisory lock (a server starting on the
  target meanwhile waits for it). A refusal, an error or a count that differs rolls it
  all back: the target is left exactly as it was found and the command can run again.
- **Values as they are.** Text byte for byte (job bodies, requests, results), blobs as
  bytes, `seq` values kept, and each identity sequence set past its largest value, so
  new jobs and deliveries continue the arrival order without collision. The one change:
  a NUL character, which PostgreSQL text cannot hold, becomes U+FFFD in a webhook
  response excerpt (already a lossy excerpt); anywhere else it refuses the copy.
- **Bounded memory.** Rows stream one at a time from a SQLite cursor into a binary COPY;
  progress is logged every `PROGRESS_ROWS` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from nexio_lite import logs
from nexio_lite.config import Settings
from nexio_lite.errors import ConfigError, NexioError
from nexio_lite.store.sqlite.core import migrations as sqlite_migrations

try:
    import psycopg
    from psycopg import sql

    from nexio_lite.store.postgres.errors import describe
    from nexio_lite.store.postgres.migrate import MIGRATION_LOCK, migrate
except ImportError as exc:  # pragma: no cover - the postgres extra is missing
    raise ConfigError(
        f"migrate-data needs the postgres extra: pip install 'nexio-lite[postgres]' ({exc})"
    ) from exc

log = logs.get_logger("nexio_lite.migrate_data")

# Copied, in this order (a table after the tables its foreign keys point to).
COPIED = (
    "orgs",
    "api_keys",
    "pool_versions",
    "jobs",
    "deliveries",
    "delivery_attempts",
    "idempotency_keys",
    "rulebook_versions",  # added last: the lines printed for the tables above keep their order
)
# Left out on purpose, with the reason printed beside the table's row count.
NOT_COPIED = {
    "leases": "which process runs maintenance; processes on PostgreSQL elect their own",
    "ui_sessions": "web console sign-ins; people sign in again on the new database",
    "ui_secrets": "the console's cookie-signing secret; the new database makes its own",
}
BOOKKEEPING = "schema_migrations"  # each backend records its own migrations
PROGRESS_ROWS = 10_000
CONNECT_TIMEOUT_SECONDS = 10
TEXT_OID = 25  # pg_type oid of `text`
# Columns where a NUL character becomes U+FFFD instead of refusing the copy.
NUL_REPLACED = frozenset({("delivery_attempts", "response_excerpt")})

Row = tuple[Any, ...]


class MigrationError(NexioError):
    """The migration was refused or failed; the target database is as it was found."""


@attrs.frozen
class Table:
    """A table to copy: its columns (in SQLite's order) and its rows in the snapshot."""

    name: str
    columns: tuple[str, ...]
    rows: int


@attrs.frozen
class Counted:
    """A copied table's rows in the SQLite snapshot and in PostgreSQL after the copy."""

    table: str
    source: int
    target: int

    def line(self) -> str:
        return f"{self.table}: {self.source} -> {self.target}"


def run(settings: Settings, to: str) -> list[str]:
    """Copy the SQLite database at `settings.database.path` into the PostgreSQL database
    `to`; the lines to print (one per table, `jobs: 12345 -> 12345`, then a summary).
    Raises MigrationError, with a one-line reason, for anything but a verified copy."""
    if settings.database.url:
        raise MigrationError(
            f"database.url already names PostgreSQL ({describe(settings.database.url)}); "
            "migrate-data copies from the SQLite database at database.path: unset database.url"
        )
    logs.configure(settings.log.level, settings.log.format)
    return asyncio.run(migrate_data(settings.database.path, to))


async def migrate_data(path: str, url: str) -> list[str]:
    """See `run`."""
    started = time.monotonic()
    where = describe(url)
    with sqlite_snapshot(path) as src:
        tables, skipped = plan(src)
        async with await _connect(url, where) as conn:
            try:
                counted = await _copy_all(conn, src, tables, where)
            except psycopg.Error as exc:
                raise MigrationError(
                    f"the copy into {where} failed and was rolled back, nothing was written: "
                    f"{_one_line(exc)}"
                ) from exc
            except sqlite3.Error as exc:
                raise MigrationError(
                    f"reading {path} failed ({_one_line(exc)}); the copy into {where} was "
                    "rolled back, nothing was written"
                ) from exc
    total = sum(c.target for c in counted)
    log.info("migrate_data_finished", source=path, target=where, rows=total,
             seconds=round(time.monotonic() - started, 3))  # fmt: skip
    lines = [c.line() for c in counted]
    lines += [f"{name}: {rows} -> not copied ({NOT_COPIED[name]})" for name, rows in skipped]
    lines.append(f"copied {total} rows from {path} to {where}: every count matches")
    return lines


# ---- the SQLite side ---------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_snapshot(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection inside one read transaction: every read through it sees
    the database as it was at the first one, whatever other connections write meanwhile
    (WAL mode keeps that snapshot for the transaction's lifetime)."""
    file = Path(path)
    if not file.is_file():
        raise MigrationError(f"no SQLite database at {path} (database.path)")
    try:
        conn = sqlite3.connect(
            file.resolve().as_uri() + "?mode=ro", uri=True, timeout=30, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise MigrationError(f"cannot open {path}: {_one_line(exc)}") from exc
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts
        yield conn
    except sqlite3.Error as exc:
        raise MigrationError(f"cannot read {path}: {_one_line(exc)}") from exc
    finally:
        conn.close()


def plan(src: sqlite3.Connection) -> tuple[list[Table], list[tuple[str, int]]]:
    """The tables to copy and the (table, rows) left out. Refuses a database with a table
    this version does not know, one without ours, or one at another schema version."""
    names = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    names = {n for n in names if not n.startswith("sqlite_")}
    unknown = sorted(names - {*COPIED, *NOT_COPIED, BOOKKEEPING})
    if unknown:
        raise MigrationError(
            f"the SQLite database has tables this version cannot copy ({', '.join(unknown)}); "
            "nothing was written"
        )
    missing = sorted({*COPIED, BOOKKEEPING} - names)
    if missing:
        raise MigrationError(
            f"the SQLite database lacks nexio_lite tables ({', '.join(missing)}): is "
            "database.path a nexio_lite database?"
        )
    _check_schema_version(src)
    tables = [Table(n, _sqlite_columns(src, n), _sqlite_count(src, n)) for n in COPIED]
    skipped = [(n, _sqlite_count(src, n)) for n in NOT_COPIED if n in names]
    return tables, skipped


def _check_schema_version(src: sqlite3.Connection) -> None:
    have = {r[0] for r in src.execute("SELECT version FROM schema_migrations")}
    want = {number for number, _, _ in sqlite_migrations()}
    if have - want:
        raise MigrationError(
            "the SQLite database was migrated by a newer nexio-lite (schema versions "
            f"{sorted(have - want)}); migrate it with that version"
        )
    if want - have:
        raise MigrationError(
            "the SQLite database has an older schema: run any command of this version on it "
            "once (e.g. `nexio-lite pools list --org ORG`) to upgrade it, then migrate"
        )


def _quote(name: str) -> str:
    """An SQL identifier, quoted (the same rule in SQLite and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def _sqlite_columns(src: sqlite3.Connection, table: str) -> tuple[str, ...]:
    return tuple(r[1] for r in src.execute(f"PRAGMA table_info({_quote(table)})"))


def _sqlite_count(src: sqlite3.Connection, table: str) -> int:
    return int(src.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0])


def _sqlite_rows(src: sqlite3.Connection, table: Table) -> sqlite3.Cursor:
    """The table's rows, read lazily (one row in memory at a time)."""
    columns = ", ".join(_quote(c) for c in table.columns)
    return src.execute(f"SELECT {columns} FROM {_quote(table.name)}")


# ---- the PostgreSQL side -----------------------------------------------------------------


async def _connect(url: str, where: str) -> psycopg.AsyncConnection[Any]:
    try:
        return await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
    except psycopg.Error as exc:
        raise MigrationError(f"cannot connect to {where}: {_one_line(exc)}") from exc


async def _copy_all(
    conn: psycopg.AsyncConnection[Any], src: sqlite3.Connection, tables: list[Table], where: str
) -> list[Counted]:
    """Schema, rows, sequences and counts in one transaction (see the module docstring);
    any exception rolls all of it back."""
    async with conn.transaction():
        # Held to the commit: a server starting on the target waits, then finds it migrated.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await _refuse_unless_empty(conn, where)
        before = await _schema_tables(conn)
        applied = await migrate(conn)
        await _check_new_tables(conn, before, where)
        log.info("migrate_data_started", target=where, migrations=applied,
                 rows=sum(t.rows for t in tables))  # fmt: skip
        for table in tables:
            await _copy_table(conn, src, table, await _target_types(conn, table))
        await _advance_identities(conn, tables)
        counted = [Counted(t.name, t.rows, await _target_count(conn, t.name)) for t in tables]
        differ = [c.line() for c in counted if c.source != c.target]
        if differ:
            raise MigrationError(
                f"row counts differ after the copy ({'; '.join(differ)}); rolled back, "
                "nothing was written"
            )
    return counted


async def _refuse_unless_empty(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    """Refuse a target where any nexio_lite table (or migration record) already exists,
    as the backend's unqualified table names would find it (the search_path)."""
    ours = [*COPIED, *NOT_COPIED, BOOKKEEPING]
    cur = await conn.execute(
        "SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(quote_ident(n)) IS NOT NULL",
        (ours,),
    )
    found = [r[0] for r in await cur.fetchall()]
    if found:
        raise MigrationError(
            f"{where} already has nexio_lite tables ({', '.join(found)}); migrate-data only "
            "fills a database that has none: nothing was written"
        )


async def _schema_tables(conn: psycopg.AsyncConnection[Any]) -> set[str]:
    """The tables of the schema new tables go to (the first of the search_path)."""
    cur = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r[0] for r in await cur.fetchall()}


async def _check_new_tables(
    conn: psycopg.AsyncConnection[Any], before: set[str], where: str
) -> None:
    """The migrations created exactly the tables this command knows how to fill."""
    created = await _schema_tables(conn) - before
    expected = {*COPIED, *NOT_COPIED, BOOKKEEPING}
    if created != expected:
        raise MigrationError(
            f"the PostgreSQL schema created in {where} does not match what this command "
            f"copies (unknown: {sorted(created - expected)}, absent: "
            f"{sorted(expected - created)}); rolled back, nothing was written"
        )


async def _target_types(conn: psycopg.AsyncConnection[Any], table: Table) -> dict[str, int]:
    """The PostgreSQL column types (oids) of `table`, checked to be the same columns as
    SQLite's: a column only one side has would be lost or left empty."""
    cur = await conn.execute(
        "SELECT attname, atttypid::int FROM pg_attribute "
        "WHERE attrelid = to_regclass(quote_ident(%s)) AND attnum > 0 AND NOT attisdropped",
        (table.name,),
    )
    types: dict[str, int] = dict(await cur.fetchall())
    if set(types) != set(table.columns):
        raise MigrationError(
            f"{table.name}: the columns differ between SQLite (only there: "
            f"{sorted(set(table.columns) - set(types))}) and PostgreSQL (only there: "
            f"{sorted(set(types) - set(table.columns))}); rolled back, nothing was written"
        )
    return types


async def _copy_table(
    conn: psycopg.AsyncConnection[Any], src: sqlite3.Connection, table: Table, types: dict[str, int]
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    storable = _nul_guard(table, types)
    copied = 0
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types([types[c] for c in table.columns])
        for row in _sqlite_rows(src, table):
            await copy.write_row(storable(row))
            copied += 1
            if copied % PROGRESS_ROWS == 0:
                log.info("migrate_data_progress", table=table.name, copied=copied,
                         rows=table.rows)  # fmt: skip
    log.info("migrate_data_table_copied", table=table.name, rows=copied)


def _nul_guard(table: Table, types: dict[str, int]) -> Callable[[Row], Row]:
    """A function returning a row PostgreSQL can store: NUL characters replaced in the
    NUL_REPLACED columns, refused (MigrationError naming the row) in any other text."""
    text_at = [i for i, c in enumerate(table.columns) if types[c] == TEXT_OID]
    replace_at = {i for i, c in enumerate(table.columns) if (table.name, c) in NUL_REPLACED}

    def storable(row: Row) -> Row:
        bad = [i for i in text_at if isinstance(row[i], str) and "\x00" in row[i]]
        if not bad:
            return row
        refused = [table.columns[i] for i in bad if i not in replace_at]
        if refused:
            raise MigrationError(
                f"{table.name}: a row ({table.columns[0]} = {row[0]!r}) has a NUL character "
                f"in {', '.join(refused)}, which PostgreSQL text cannot hold; nothing was "
                "written"
            )
        return tuple(v.replace("\x00", "\ufffd") if i in bad else v for i, v in enumerate(row))

    return storable


async def _advance_identities(conn: psycopg.AsyncConnection[Any], tables: list[Table]) -> None:
    """Set every identity (or serial) sequence of the copied tables past the largest value
    copied, so the next row PostgreSQL numbers comes after every migrated one."""
    for table in tables:
        cur = await conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(quote_ident(%s)) "
            "AND attnum > 0 AND NOT attisdropped "
            "AND pg_get_serial_sequence(quote_ident(%s), attname) IS NOT NULL",
            (table.name, table.name),
        )
        for (column,) in await cur.fetchall():
            await conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), max({column})) "
                    "FROM {table} HAVING max({column}) IS NOT NULL"
                ).format(column=sql.Identifier(column), table=sql.Identifier(table.name)),
                (_quote(table.name), column),
            )


async def _target_count(conn: psycopg.AsyncConnection[Any], table: str) -> int:
    cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
