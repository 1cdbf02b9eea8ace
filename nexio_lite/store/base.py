"""The one storage interface. Every database access of the service goes through it, so
that a second backend (PostgreSQL) is an addition: it implements this protocol and runs
the same contract suite (`tests/store/`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from nexio_lite.models import (
    ApiKey,
    Claim,
    Delivery,
    DeliveryAttempt,
    DeliveryClaim,
    DeliveryStatus,
    IdempotencyClaim,
    Job,
    NewJob,
    Org,
    PoolVersion,
    QueueStats,
    ReapReport,
    RulebookVersion,
    SweepCount,
)
from nexio_lite.store.session_rows import UiSession


class Store(Protocol):
    # lifecycle
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the database answers."""
        ...

    async def problem(self) -> str | None:
        """Why the database cannot serve now (it does not answer, or it refused writes
        a moment ago for a reason that passes, such as a full disk), or None."""
        ...

    async def pool_blob(self, org_id: str, pool_id: str, version: int) -> bytes | None:
        """One pool version's data as stored, the `blob` given to `add_pool_version` (what
        the server sends a scoring process that has not prepared it yet), or None."""
        ...

    def subscribe(self, topic: str, callback: Callable[[list[str]], None]) -> None:
        """Wake-ups (store/notify.py): call `callback(ids)` on the event loop after work
        of `topic` (`jobs`, `finished`, `deliveries`) is committed: at once for this
        process's own commits; for other processes' as the backend can (PostgreSQL:
        LISTEN/NOTIFY; SQLite: not, so waiters also poll)."""
        ...

    async def announce_others(self) -> None:
        """Publish what other processes committed that this backend cannot hear of by
        itself (SQLite: the jobs they finished); run every `workers.poll_interval_seconds`.
        A no-op where the database announces everything (PostgreSQL)."""
        ...

    async def backup(self, dest: str) -> int:
        """A consistent copy of the whole database at `dest` (a new file), taken while
        other processes keep working; returns its size in bytes. SQLite only: other
        backends raise StoreError naming their own tool."""
        ...

    async def checkpoint(self) -> None:
        """Housekeeping of the database files, run every few tenths of a second by a
        background loop (SQLite: keep the write-ahead log small)."""
        ...

    # organizations and keys
    async def create_org(self, org_id: str, webhook_secret: str, now: int) -> Org:
        """Raises Conflict if the organization exists."""
        ...

    async def get_org(self, org_id: str) -> Org | None: ...

    async def rotate_org_secret(self, org_id: str, new_secret: str, now: int) -> Org: ...

    async def create_key(self, key: ApiKey, key_hash: str) -> None: ...

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not."""
        ...

    async def list_keys(self, org_id: str) -> list[ApiKey]: ...

    async def revoke_key(self, key_id: str, now: int) -> bool:
        """False when there is no such key."""
        ...

    async def touch_keys(self, last_used: dict[str, int]) -> None:
        """Record the last use of several keys at once."""
        ...

    # pools
    async def add_pool_version(
        self,
        org_id: str,
        pool_id: str,
        *,
        generator: str,
        size: int,
        as_of: str,
        sha256: str,
        blob: bytes,
        now: int,
    ) -> PoolVersion:
        """Store a new immutable version (numbered from 1) and make it current. `blob` is
        its data as the vertical packs it (`stored.pack_stored_pool`), kept as given."""
        ...

    async def current_pool(self, org_id: str, pool_id: str) -> PoolVersion | None: ...

    async def get_pool_version(
        self, org_id: str, pool_id: str, version: int
    ) -> PoolVersion | None: ...

    async def list_pools(self, org_id: str) -> list[PoolVersion]:
        """The current version of each of the organization's pools, by pool id."""
        ...

    # screening rule books (SCREEN.md §2)
    async def import_rulebook(
        self,
        org_id: str,
        rulebook_id: str,
        *,
        canonical: bytes,
        sha256: str,
        rules: int,
        regulations: int,
        now: int,
    ) -> RulebookVersion:
        """Store `canonical` (a checked rule book's canonical JSON; `sha256` its hex digest,
        else ValueError) as a new immutable version, numbered from 1, and make it current;
        unless the current version has the same sha256: then that one is returned and
        nothing is stored. Atomic: concurrent imports of one rule book, from any process,
        get consecutive versions, and identical ones make a single version."""
        ...

    async def current_rulebook(self, org_id: str, rulebook_id: str) -> RulebookVersion | None:
        """The version new jobs use, or None when the organization has no such rule book."""
        ...

    async def rulebook_version(
        self, org_id: str, rulebook_id: str, version: int
    ) -> tuple[RulebookVersion, bytes] | None:
        """One version and its canonical JSON, byte for byte as imported, or None."""
        ...

    async def list_rulebooks(self, org_id: str) -> list[RulebookVersion]:
        """The current version of each of the organization's rule books, by id (code
        points)."""
        ...

    # jobs
    async def enqueue(self, job: NewJob, idempotency: tuple[str, str] | None = None) -> None:
        """Insert a queued job; durable (committed) when this returns. With
        `idempotency` = (key, response) the key taken by `begin_idempotent` records the
        job and the response in the same transaction."""
        ...

    async def get_job(self, org_id: str, job_id: str) -> Job | None: ...

    async def claim(self, limit: int, lease_ms: int, now: int) -> list[Claim]:
        """Atomically take up to `limit` queued jobs, oldest first: each gets a fresh
        token, a lease until now + lease_ms, and one more attempt."""
        ...

    async def renew(self, claims: list[Claim], lease_ms: int, now: int) -> set[str]:
        """Extend the leases still held; returns the ids whose token still matched."""
        ...

    async def complete(
        self,
        claim: Claim,
        result: str,
        stages: str | None,
        now: int,
        deliver_at: int,
        candidates: bytes | None = None,
        *,
        more_coming: bool = False,
    ) -> bool:
        """Mark completed with its result, only while the token matches. A job with a
        webhook URL gets a pending delivery due at `deliver_at`, in the same transaction.
        `more_coming`: the caller has other jobs in flight whose completions may follow
        at once; the store may then hold this one a moment to share their transaction
        (SQLite: `sqlite/core._Writer._linger`). Never set it for a completion that the
        next one waits on."""
        ...

    async def fail(self, claim: Claim, error: str, now: int, deliver_at: int) -> bool:
        """Mark failed with its error, only while the token matches (delivery as above)."""
        ...

    async def release(self, claim: Claim, now: int) -> bool:
        """Put a held job back in the queue (graceful drain), only while the token matches."""
        ...

    async def reap(self, now: int, max_attempts: int, deliver_at: int) -> ReapReport:
        """Requeue processing jobs whose lease expired; fail those that used every attempt
        (with their delivery, as `fail` does)."""
        ...

    async def count_jobs(self, status: str | None = None) -> int: ...

    async def queue_stats(self, now: int) -> QueueStats:
        """The whole queue, whichever process queued it (the metrics gauges): jobs
        queued and processing by (type, status), the age at `now` of the job at the head
        of the queue (0 when none is queued), and the pending webhook deliveries. Reads
        only indexed rows: cheap enough to run at every scrape (the caller caches it)."""
        ...

    # webhook deliveries (the outbox)
    async def add_delivery(self, org_id: str, job_id: str, now: int) -> Delivery:
        """Queue a new delivery (new webhook-id) of a terminal job. NotFound / Conflict."""
        ...

    async def list_deliveries(self, org_id: str, job_id: str) -> list[Delivery]: ...

    async def claim_deliveries(self, limit: int, now: int, lease_ms: int) -> list[DeliveryClaim]:
        """Take due pending deliveries whose previous attempt is not in flight."""
        ...

    async def next_delivery_due(self) -> int | None: ...

    async def record_attempt(
        self,
        claim: DeliveryClaim,
        attempt: DeliveryAttempt,
        status: DeliveryStatus,
        next_attempt_at: int | None,
    ) -> bool:
        """Store the attempt and the delivery's new state while the claim holds."""
        ...

    async def give_up_delivery(self, claim: DeliveryClaim, now: int) -> bool:
        """Mark a claimed delivery failed without another attempt, while the claim holds
        (its retry schedule was shortened below the attempts already made)."""
        ...

    async def count_deliveries(self, status: str | None = None) -> int: ...

    async def get_jobs(self, job_ids: list[str]) -> dict[str, Job]:
        """Several jobs by id, whatever their organization (the delivery loop's read)."""
        ...

    # listing
    async def list_jobs(
        self,
        org_id: str,
        *,
        limit: int,
        status: str | None = None,
        job_type: str | None = None,
        before_seq: int | None = None,
    ) -> list[Job]:
        """Newest first, without candidates; `before_seq` continues a previous page."""
        ...

    # idempotency keys
    async def begin_idempotent(
        self, org_id: str, key: str, request_hash: str, now: int, ttl_ms: int, stale_ms: int
    ) -> IdempotencyClaim: ...

    async def abandon_idempotent(self, org_id: str, key: str) -> None: ...

    async def purge_idempotency(self, now: int) -> int: ...

    # leases (one process at a time runs the reaper and the sweeps)
    async def take_lease(self, name: str, holder: str, now: int, ttl_ms: int) -> bool:
        """Hold the lease `name` until now + ttl_ms when it is free, expired or already
        `holder`'s (a renewal); True when `holder` holds it afterwards. Atomic."""
        ...

    async def drop_lease(self, name: str, holder: str) -> None:
        """Give the lease up, if `holder` holds it (at a clean shutdown)."""
        ...

    # maintenance
    async def list_org_ids(self) -> list[str]: ...

    async def has_active_job(self, org_id: str, job_type: str) -> bool: ...

    async def count_sweepable(self, org_id: str, cutoff: int) -> SweepCount: ...

    async def delete_swept(self, org_id: str, cutoff: int, limit: int) -> int: ...

    async def job_metrics(self, org_id: str, since: int) -> dict[str, Any]: ...

    # web console sessions (console/): only a hash of each session token is stored
    async def create_session(
        self, session_id: str, key_id: str, org_id: str, now: int, expires_at: int
    ) -> None:
        """Store a session (`session_id`: the SHA-256 of its token) acting with `key_id`."""
        ...

    async def get_session(self, session_id: str, now: int) -> UiSession | None:
        """The session with its API key as stored now (revoked or not), unless it is
        unknown, deleted or expired at `now`."""
        ...

    async def delete_session(self, session_id: str) -> bool:
        """End a session everywhere; False when there was none."""
        ...

    async def purge_sessions(self, now: int) -> int:
        """Delete the sessions expired at `now`; returns how many."""
        ...

    async def ui_secret(self, candidate: str, now: int) -> str:
        """The console's cookie-signing secret: the one stored, or `candidate`, stored now
        if there is none (every process sharing the database gets the same one)."""
        ...
