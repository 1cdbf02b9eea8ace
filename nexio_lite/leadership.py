"""One process at a time runs the reaper and the periodic sweeps.

When several processes share the database, each worker process tries to hold the lease
row `maintenance` (Store.take_lease) every third of `workers.lease_seconds`. The
holder renews it; when the holder dies, its lease expires and another process takes it
over within `lease_seconds`. The reaper and the sweep scheduler ask `held` before each
round, so three processes reap and sweep no more often than one. (Both are safe to run
twice anyway: the reaper's updates are conditional, and sweeps are deduplicated per
organization and period; the lease keeps the work, and the log, in one place.)
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable

from nexio_lite.logs import get_logger
from nexio_lite.models import now_ms
from nexio_lite.store.base import Store
from nexio_lite.supervisor import Supervisor

log = get_logger("nexio_lite.leadership")

LEASE_NAME = "maintenance"


def holder_id() -> str:
    """Who this process is, in the lease row: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leadership:
    def __init__(
        self,
        store: Store,
        lease_seconds: float,
        holder: str | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.ttl_ms = int(lease_seconds * 1000)
        self.holder = holder or holder_id()
        self.clock = clock
        self.held = False

    def start(self, supervisor: Supervisor) -> None:
        supervisor.start("leadership", self.renew, self.ttl_ms / 3000)

    async def renew(self) -> None:
        """Take or renew the lease; `held` says whether this process holds it now. A
        failed renewal (the database did not answer) gives it up at once: better no
        reaper for a moment than two."""
        try:
            held = await self.store.take_lease(LEASE_NAME, self.holder, self.clock(), self.ttl_ms)
        except Exception:
            self._set(False)
            raise
        self._set(held)

    def _set(self, held: bool) -> None:
        if held != self.held:
            log.info("leadership_taken" if held else "leadership_lost", holder=self.holder)
        self.held = held

    async def release(self) -> None:
        """At a clean stop: let another process take over at once."""
        if self.held:
            self.held = False
            await self.store.drop_lease(LEASE_NAME, self.holder)
