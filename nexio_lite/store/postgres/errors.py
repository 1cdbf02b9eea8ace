"""psycopg's errors translated into ours (STYLE.md habit 7), at the module that meets
them: a constraint is a Conflict, a condition that passes (the connection is lost, the
server shuts down or is starting, the disk is full, the database is read-only, too many
connections, a deadlock that outlived its retries) is StoreUnavailable (a 503: nothing
was half-written), anything else a StoreError."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from nexio_lite.errors import Conflict, StoreError, StoreUnavailable

# SQLSTATE classes that pass on their own (or when an operator acts): 08 connection
# exception, 40 transaction rollback (deadlock, serialization), 53 insufficient resources
# (disk full, out of memory, too many connections), 57 operator intervention (shutdown,
# cannot connect now, query cancelled), 58 system error (I/O).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# ... and single states: read-only transaction, lock not available.
_TRANSIENT_STATES = frozenset({"25006", "55P03"})
# Worth running the whole transaction again at once: it was rolled back, nothing written.
RETRY_STATES = frozenset({"40001", "40P01"})


def is_connection_lost(exc: BaseException) -> bool:
    """The connection failed (no SQLSTATE: the socket closed, the server went away) or
    the server ended the session; a statement that met this did not commit."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, PoolTimeout):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state[:2] == "08" or state in ("57P01", "57P02", "57P03")


def translate_error(exc: BaseException) -> BaseException:
    """Our exception for a psycopg (or psycopg_pool) error; anything else unchanged."""
    if isinstance(exc, pg.IntegrityError):
        return Conflict(str(exc))
    if not isinstance(exc, psycopg.Error):
        return exc
    if isinstance(exc, PoolTimeout):  # no connection could be had in time
        return StoreUnavailable(f"database unavailable: {exc}")
    state = getattr(exc, "sqlstate", None)
    text = str(exc).strip() or type(exc).__name__
    if is_connection_lost(exc) or (
        state is not None and (state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES)
    ):
        return StoreUnavailable(f"database unavailable: {text}")
    return StoreError(f"database error: {text}")


def describe(url: str) -> str:
    """`host:port/dbname` of a connection string, without user or password (for logs
    and error messages)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "the configured PostgreSQL database"
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return f"{host}:{port}/{info.get('dbname') or info.get('user') or ''}"
