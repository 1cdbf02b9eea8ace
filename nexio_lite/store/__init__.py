"""Storage: the `Store` protocol (base.py) and its backends, chosen by `make_store`."""

from __future__ import annotations

from nexio_lite.config import DatabaseSettings
from nexio_lite.errors import ConfigError
from nexio_lite.store.base import Store


def make_store(database: DatabaseSettings) -> Store:
    """The store `database` names: PostgreSQL when `database.url` is set, else SQLite at
    `database.path`. The one place that picks a backend (serve and every CLI command)."""
    if database.url:
        try:
            from nexio_lite.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                "database.url names PostgreSQL, which needs the postgres extra: "
                f"pip install 'nexio-lite[postgres]' ({exc})"
            ) from exc
        return PostgresStore(database.url)
    from nexio_lite.store.sqlite import SqliteStore

    return SqliteStore(database.path, database.busy_timeout_ms)
