"""The PostgreSQL backend of the Store protocol, on psycopg 3 (async) and psycopg_pool.

Same data model as the SQLite backend (the same tables and columns; times as BIGINT
milliseconds, JSON as TEXT so bodies come back byte for byte, blobs as BYTEA, `seq`
identities so list cursors work the same, text ordered with `COLLATE "C"` as SQLite
orders it), so both return identical records and run the same contract suite
(`tests/store/`). Its own numbered migrations (`sql/`), applied at `open()` under an
advisory lock. Claims in batches with `FOR UPDATE SKIP LOCKED`; a claim token guards
every change to a held job or delivery; frequent writes share transactions (batch.py);
wake-ups reach other processes by LISTEN/NOTIFY (listen.py).

Needs the `postgres` extra: `pip install 'nexio-lite[postgres]'`.
"""

from __future__ import annotations

from nexio_lite.store.postgres.admin import AdminMixin
from nexio_lite.store.postgres.core import PostgresBase
from nexio_lite.store.postgres.deliveries import DeliveriesMixin
from nexio_lite.store.postgres.jobs import JobsMixin
from nexio_lite.store.postgres.maintenance import MaintenanceMixin
from nexio_lite.store.postgres.migrate import migrations
from nexio_lite.store.postgres.rulebooks import RulebooksMixin
from nexio_lite.store.postgres.sessions import SessionsMixin

__all__ = ["PostgresStore", "migrations"]


class PostgresStore(
    AdminMixin,
    JobsMixin,
    DeliveriesMixin,
    MaintenanceMixin,
    SessionsMixin,
    RulebooksMixin,
    PostgresBase,
):
    """The Store protocol on one PostgreSQL database (`url`: a libpq connection string,
    `postgresql://user@host:5432/name`); any number of processes may share it. One part
    per concern, one connection pool (`core.PostgresBase`, `pool_max` connections) plus
    one LISTEN connection."""

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 8,
        connect_timeout: int = 5,
        pool_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            url,
            pool_min=pool_min,
            pool_max=pool_max,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        self._init_jobs()
        self._init_deliveries()

    async def _close_batches(self) -> None:
        for batcher in (self._job_writes, self._attempts):
            await batcher.close()
