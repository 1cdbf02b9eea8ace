"""In-process notification of finished jobs, for `GET /api/v1/jobs/{id}?wait=N`.

A waiting request holds one future, registered under its job id; when a worker (or the
reaper) makes the job terminal it resolves the futures waiting for it. Nothing polls:
a thousand idle long-polls are a thousand parked futures and cost no CPU.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class JobWaiters:
    def __init__(self) -> None:
        self._waiting: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)

    def __len__(self) -> int:
        return sum(len(s) for s in self._waiting.values())

    def finished(self, job_ids: Iterable[str]) -> None:
        """Wake everyone waiting for any of these jobs."""
        for job_id in job_ids:
            for fut in self._waiting.pop(job_id, ()):
                if not fut.done():
                    fut.set_result(None)

    def wake_all(self) -> None:
        """Answer every waiting request now (the server is shutting down)."""
        self.finished(list(self._waiting))

    def register(self, job_id: str) -> asyncio.Future[None]:
        """A future resolved when the job finishes. Register before reading the job's
        state, so that no wake-up falls between the read and the wait; release it with
        `forget` in every case."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[job_id].add(fut)
        return fut

    def forget(self, job_id: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiting.get(job_id)
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                del self._waiting[job_id]
