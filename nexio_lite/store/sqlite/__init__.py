"""The SQLite backend of the Store protocol, on aiosqlite.

WAL, `synchronous=NORMAL`, a busy timeout, one writer connection and one reader
connection. Every write goes through one writer task that takes all the writes
waiting at that moment and runs them in one `BEGIN IMMEDIATE` transaction (group
commit, no waiting window): concurrent submits cost one commit, not one each.
Completions arriving in a steady stream wait up to 5 ms to share one (`core._Writer`).
"""

from nexio_lite.store.sqlite.admin import AdminMixin
from nexio_lite.store.sqlite.core import SqliteBase, migrations
from nexio_lite.store.sqlite.deliveries import DeliveriesMixin
from nexio_lite.store.sqlite.jobs import JobsMixin
from nexio_lite.store.sqlite.maintenance import MaintenanceMixin
from nexio_lite.store.sqlite.rulebooks import RulebooksMixin
from nexio_lite.store.sqlite.sessions import SessionsMixin

__all__ = ["SqliteStore", "migrations"]


class SqliteStore(
    AdminMixin,
    JobsMixin,
    DeliveriesMixin,
    MaintenanceMixin,
    SessionsMixin,
    RulebooksMixin,
    SqliteBase,
):
    """The Store protocol on one SQLite file: one part per concern, one set of
    connections (`core.SqliteBase`)."""
