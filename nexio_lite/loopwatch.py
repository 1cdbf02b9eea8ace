"""Watches the event loop's responsiveness: how late a short periodic timer fires.

A stall is the time the loop was busy beyond the timer's due time; a long one means a
handler or a worker did CPU work (or blocking I/O) on the loop. The worst stall is
reported by `/readyz`, every tick's lateness goes to `nexio_event_loop_stall_seconds`,
and stalls above `WARN_MS` are logged.
"""

from __future__ import annotations

import asyncio
import time

from nexio_lite.logs import get_logger
from nexio_lite.metrics import NO_METRICS, Recorder

log = get_logger("nexio_lite.loop")

INTERVAL_S = 0.01
WARN_MS = 100.0


class LoopWatch:
    def __init__(self, metrics: Recorder = NO_METRICS) -> None:
        self.metrics = metrics
        self.worst_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def reset(self) -> float:
        """Return the worst stall so far and start counting again."""
        worst, self.worst_ms = self.worst_ms, 0.0
        return worst

    async def _run(self) -> None:
        while True:
            due = time.perf_counter() + INTERVAL_S
            await asyncio.sleep(INTERVAL_S)
            late_ms = (time.perf_counter() - due) * 1000
            self.metrics.loop_stall(late_ms / 1000)
            if late_ms > self.worst_ms:
                self.worst_ms = late_ms
            if late_ms > WARN_MS:
                log.warning("event_loop_stall", stall_ms=round(late_ms, 1))
