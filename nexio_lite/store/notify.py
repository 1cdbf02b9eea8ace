"""Wake-ups that belong to the store (STYLE.md habit 13).

Whoever waits for work subscribes to a topic of its store; the store publishes after the
commit that made the work visible:

- `jobs`: jobs were queued (submitted, requeued by the reaper, released);
- `finished`: jobs became terminal (completed, failed, failed by the reaper);
- `deliveries`: webhook deliveries were queued (a job with a webhook URL finished, or
  was redelivered).

Each publication carries the job ids.

Callbacks run on the event loop, must be quick and never raise into the publisher (an
error is logged). A backend serves work committed by *this* process at once; work
committed by another process sharing the database reaches subscribers as that backend
can: PostgreSQL with LISTEN/NOTIFY, SQLite not at all (waiters poll every
`workers.poll_interval_seconds` as well).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from nexio_lite.logs import get_logger
from nexio_lite.models import Job, ReapReport

log = get_logger("nexio_lite.store")

TOPICS = ("jobs", "finished", "deliveries")
Callback = Callable[[list[str]], None]


class Announces:
    """What each kind of committed change publishes, in one place for every backend's
    notifier (which provides `publish`)."""

    def publish(self, topic: str, ids: Iterable[str]) -> None:
        raise NotImplementedError

    def job_finished(self, job: Job) -> None:
        """A claimed job was completed or failed: `finished`, and `deliveries` when it
        has a webhook URL (its delivery row was written in the same transaction)."""
        self.publish("finished", [job.id])
        if job.webhook_url:
            self.publish("deliveries", [job.id])

    def reaped(self, report: ReapReport) -> None:
        """What the reaper did: requeued jobs, failed jobs, and their deliveries."""
        if report.requeued:
            self.publish("jobs", report.requeued)
        if report.failed:
            self.publish("finished", report.failed)
        if report.delivering:
            self.publish("deliveries", report.delivering)


class Notifier(Announces):
    """Subscribers by topic; `publish` calls each with the ids."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, list[Callback]] = defaultdict(list)

    def subscribe(self, topic: str, callback: Callback) -> None:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
        self._subscribers[topic].append(callback)

    def unsubscribe(self, topic: str, callback: Callback) -> None:
        subscribers = self._subscribers.get(topic, [])
        if callback in subscribers:
            subscribers.remove(callback)

    def publish(self, topic: str, ids: Iterable[str]) -> None:
        listed = list(ids)
        for callback in list(self._subscribers.get(topic, ())):
            try:
                callback(listed)
            except Exception:
                log.exception("subscriber_failed", topic=topic)
