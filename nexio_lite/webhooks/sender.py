"""The delivery loop: due deliveries from the outbox, signed, POSTed, classified, recorded.

Deliveries live in the database (written in the transaction that made their job
terminal), so nothing is lost to a crash: an attempt in flight at a kill is taken
again when its lease runs out, with the same `webhook-id` (at-least-once). The loop
(supervised) sleeps until it is woken (a job finished, a redelivery) or the next
delivery falls due, and looks at least every `poll_seconds` (deliveries queued by
another process on the same SQLite file; `workers.poll_interval_seconds`). At most
`webhooks.concurrency` attempts are in flight, each in its own task with its own
timeout, so a slow receiver holds one slot, not the loop. A slot is the POST: it is free
again as soon as the answer (or the timeout) is in, while the attempt is recorded (its
commit shared with others'), so a busy database does not slow the receivers' traffic.

The loop claims ahead: besides the free slots it claims up to `concurrency` more
deliveries into a buffer, from which a slot takes its next one the moment it is free, so
one claim serves many attempts. Claims in the buffer hold their leases, so the buffer is
bounded to what the slots get through in about `AHEAD_SECONDS` at the recent POST
latency, and a claim that waited `STALE_MS` for a slot (the slots all held by slow
receivers) is not attempted: like the buffer's claims at a stop, it is taken again when
its lease runs out, with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable

import aiohttp

from nexio_lite import __version__
from nexio_lite.config import WebhookSettings
from nexio_lite.envelope import envelope_bytes
from nexio_lite.logs import get_logger
from nexio_lite.metrics import NO_METRICS, Recorder
from nexio_lite.models import (
    DeliveryAttempt,
    DeliveryClaim,
    DeliveryStatus,
    Job,
    now_ms,
)
from nexio_lite.store.base import Store
from nexio_lite.supervisor import Loop, Supervisor, persist
from nexio_lite.webhooks.policy import Delivered, GiveUp, Outcome, RetryAt, RetryPolicy
from nexio_lite.webhooks.policy import parse_retry_after as _parse_retry_after
from nexio_lite.webhooks.signing import webhook_headers
from nexio_lite.webhooks.ssrf import UrlPolicy, guarded_connector, is_refused_connection

log = get_logger("nexio_lite.webhooks")

USER_AGENT = f"nexio-lite/{__version__}"
EXCERPT_BYTES = 2048
LEASE_MARGIN_MS = 5_000
SECRET_CACHE_SECONDS = 2.0
# A claim waits in the buffer about this long at most, at the recent POST latency...
AHEAD_SECONDS = 1.0
# ... and is not attempted once it waited this long: its attempt, up to the timeout long,
# must be recorded before its lease (timeout + LEASE_MARGIN_MS from the claim) runs out.
STALE_MS = LEASE_MARGIN_MS // 2


class DeliveryService:
    def __init__(
        self,
        store: Store,
        settings: WebhookSettings,
        base_url: str,
        clock: Callable[[], int] = now_ms,
        rng: random.Random | None = None,
        poll_seconds: float = 1.0,
        metrics: Recorder = NO_METRICS,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.settings = settings
        self.base_url = base_url
        self.clock = clock
        self.rng = rng or random.Random()
        self.policy = RetryPolicy(tuple(settings.retry_schedule_seconds))
        self.lease_ms = int(settings.timeout_seconds * 1000) + LEASE_MARGIN_MS
        self._loop: Loop | None = None
        self._inflight: set[asyncio.Task[None]] = set()  # attempts, until recorded
        self._posting = 0  # attempts whose POST is in flight (the slots taken)
        # claimed ahead, not yet attempted: (claim, its job, the claim's time)
        self._ready: deque[tuple[DeliveryClaim, Job | None, int]] = deque()
        self._latency_ms = 0.0  # the recent POSTs' latency (a moving average)
        self._more_due = False  # the last round claimed all it asked for: more may wait
        self._session: aiohttp.ClientSession | None = None
        self._secrets: dict[str, tuple[float, list[str]]] = {}
        self._stopping = False

    @property
    def first_delay_ms(self) -> int:
        return int(self.policy.first_delay() * 1000)

    def _queued(self, _: list[str]) -> None:
        self.notify()

    def notify(self) -> None:
        if self._loop is not None:
            self._loop.wake()

    async def start(self, supervisor: Supervisor) -> None:
        policy = UrlPolicy(self.settings.allow_private_targets, self.settings.require_https)
        self._session = aiohttp.ClientSession(
            connector=guarded_connector(policy, limit=self.settings.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            trust_env=False,  # no proxy: the guard must see the real target address
            auto_decompress=False,
            # A receiver's Set-Cookie is never kept: no delivery carries a cookie that an
            # earlier answer (maybe another organization's receiver) set.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._loop = supervisor.start("webhooks", self._round, self.poll_seconds)
        self.store.subscribe("deliveries", self._queued)

    async def stop(self, grace_seconds: float) -> None:
        """Stop taking deliveries (the supervisor has stopped the loop); give attempts in
        flight `grace_seconds`, then cancel them (they are attempted again after the next
        start, with the same webhook-id). Claims not yet attempted are left to their
        leases."""
        self._stopping = True
        self._ready.clear()
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _ahead(self) -> int:
        """How many claims the buffer may hold: what the slots get through in about
        AHEAD_SECONDS at the recent POST latency, at most `concurrency`."""
        concurrency = self.settings.concurrency
        return min(concurrency, int(concurrency * AHEAD_SECONDS * 1000 / (self._latency_ms + 1)))

    async def _round(self) -> float | None:
        """Claim due deliveries for the free slots and the buffer, and start an attempt
        in each free slot; returns the seconds until the next one falls due (None:
        nothing pending, or more is due and the slots will ask for it)."""
        if self._stopping:
            return None
        ahead = self._ahead()
        want = self.settings.concurrency - self._posting + ahead - len(self._ready)
        # Claim in batches: once the buffer is (nearly) empty, and a quarter of the slots
        # and the buffer can be filled (or nothing is in flight), rather than paying one
        # claim transaction per finished attempt.
        batch = max(1, (self.settings.concurrency + ahead) // 4)
        if len(self._ready) > ahead // 4 or not (want >= batch or (want > 0 and not self._posting)):
            self._more_due = True  # not looked: the slots ask again as they free up
            return None
        now = self.clock()
        claims = await self.store.claim_deliveries(want, now, self.lease_ms)
        jobs = await self.store.get_jobs([c.delivery.job_id for c in claims])
        self._ready.extend((c, jobs.get(c.delivery.job_id), now) for c in claims)
        self._start_attempts()
        self._more_due = len(claims) >= want
        if self._more_due:
            return None
        due = await self.store.next_delivery_due()
        return None if due is None else max(0.0, (due - self.clock()) / 1000)

    def _start_attempts(self) -> None:
        """Start an attempt in each free slot, from the buffer."""
        while self._posting < self.settings.concurrency and self._ready and not self._stopping:
            claim, job, claimed_at = self._ready.popleft()
            waited = self.clock() - claimed_at
            if waited > STALE_MS:
                log.info("webhook_claim_left_to_its_lease", delivery_id=claim.delivery.id,
                         webhook_id=claim.delivery.webhook_id, waited_ms=waited)  # fmt: skip
                continue
            self._posting += 1
            task = asyncio.create_task(self._attempt(claim, job))
            self._inflight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook_attempt_crashed", exc_info=task.exception())

    async def _org_secrets(self, org_id: str, now: int) -> list[str]:
        """The org's current secret, and the previous one during the rotation overlap."""
        cached = self._secrets.get(org_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        org = await self.store.get_org(org_id)
        secrets = []
        if org is not None:
            secrets.append(org.webhook_secret)
            overlap_ms = self.settings.rotation_overlap_hours * 3_600_000
            rotated = org.secret_rotated_at
            if org.previous_secret and rotated is not None and now < rotated + overlap_ms:
                secrets.append(org.previous_secret)
        self._secrets[org_id] = (time.monotonic() + SECRET_CACHE_SECONDS, secrets)
        return secrets

    def _slot_freed(self) -> None:
        self._posting -= 1
        self._start_attempts()
        if self._more_due and len(self._ready) <= self._ahead() // 4:
            self.notify()  # the loop claims more

    async def _attempt(self, claim: DeliveryClaim, job: Job | None) -> None:
        try:
            d = claim.delivery
            secrets = await self._org_secrets(d.org_id, self.clock())
            if job is None or job.org_id != d.org_id or not secrets:
                return  # the job (and so this delivery) was deleted meanwhile
            if d.attempts >= self.policy.max_attempts:
                await self._give_up_shortened(claim)
                return
            body = await envelope_bytes(job, self.base_url)
            started = self.clock()
            headers = webhook_headers(secrets, d.webhook_id, started // 1000, body, USER_AGENT)
            t0 = time.perf_counter()
            outcome, excerpt = await self._post(d.url, body, headers)
            latency = int((time.perf_counter() - t0) * 1000)
            self._latency_ms += (latency - self._latency_ms) / 8
        finally:
            self._slot_freed()
        await self._record(claim, started, outcome, excerpt, latency)

    async def _record(
        self, claim: DeliveryClaim, started: int, outcome: Outcome, excerpt: str | None,
        latency: int,
    ) -> None:  # fmt: skip
        """Decide what follows the attempt, log it, count it and store it."""
        d = claim.delivery
        number = d.attempts + 1
        decision = self.policy.decide(outcome, number, (started + latency) / 1000, self.rng)
        attempt = DeliveryAttempt(number, started, outcome.status_code, outcome.error, latency,
                                  excerpt)  # fmt: skip
        fields = {"delivery_id": d.id, "webhook_id": d.webhook_id, "job_id": d.job_id,
                  "attempt": number, "status_code": outcome.status_code, "error": outcome.error,
                  "latency_ms": latency}  # fmt: skip
        if isinstance(decision, Delivered):
            status, next_at, counted = DeliveryStatus.DELIVERED, None, "delivered"
            log.info("webhook_delivered", **fields)
        elif isinstance(decision, RetryAt):
            status, next_at, counted = DeliveryStatus.PENDING, int(decision.at * 1000), "retry"
            log.warning("webhook_retry_scheduled", reason=decision.reason,
                        next_attempt_at=next_at, **fields)  # fmt: skip
        else:
            assert isinstance(decision, GiveUp)
            status, next_at, counted = DeliveryStatus.FAILED, None, "failed"
            log.warning("webhook_given_up", reason=decision.reason, **fields)
        # `refused`: the guard refused the target's address (no request was sent), whatever
        # the policy decided next.
        self.metrics.webhook_attempt("refused" if outcome.error == "refused_address" else counted)
        recorded = await persist(
            lambda: self.store.record_attempt(claim, attempt, status, next_at),
            "webhook_attempt", lambda: self._stopping, delivery_id=d.id,
        )  # fmt: skip
        if not recorded:
            log.warning("webhook_attempt_not_recorded", reason="lease lost", **fields)
        elif next_at is not None:
            self.notify()  # the loop's next wake-up may now be sooner

    async def _give_up_shortened(self, claim: DeliveryClaim) -> None:
        """The schedule was shortened (across a restart) below the attempts this delivery
        has already had: it ends `failed` without another attempt (API.md §6)."""
        d = claim.delivery
        given_up = await persist(
            lambda: self.store.give_up_delivery(claim, self.clock()),
            "webhook_given_up", lambda: self._stopping, delivery_id=d.id,
        )  # fmt: skip
        if given_up:
            log.warning("webhook_given_up", reason="schedule_exhausted", delivery_id=d.id,
                        webhook_id=d.webhook_id, job_id=d.job_id, attempts=d.attempts,
                        schedule_length=self.policy.max_attempts)  # fmt: skip

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[Outcome, str | None]:
        """One POST, never following redirects. Returns what happened and the first 2 KB
        of the response body; errors are classified, never raised."""
        assert self._session is not None
        status: int | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                retry_after = _parse_retry_after(resp.headers.get("Retry-After"), time.time())
                raw = await resp.content.read(EXCERPT_BYTES)
                # NUL as U+FFFD: the same text on every backend (PostgreSQL text has no NUL)
                excerpt = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientConnectorError as exc:
            error = "refused_address" if is_refused_connection(exc) else "connection_error"
        except (aiohttp.ClientError, OSError) as exc:
            error = "refused_address" if is_refused_connection(exc) else "connection_error"
        if status is not None:
            error = None  # the receiver answered in time; a cut-off body does not undo that
        return Outcome(status_code=status, error=error, retry_after=retry_after), excerpt
