"""Administrative operations behind the CLI: organizations, keys, pools and rule books.

Each runs against the same Store as the server; changes made while the server runs
reach it within seconds (key lookups are cached for at most 2 s; a job is scored
against the pool version that was current when it was accepted)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs

from nexio_lite.auth import hash_key, new_api_key
from nexio_lite.config import Settings
from nexio_lite.errors import Conflict, NexioError, NotFound
from nexio_lite.models import (
    DEFAULT_SCOPES,
    ApiKey,
    Org,
    PoolVersion,
    RulebookVersion,
    now_ms,
    random_id,
)
from nexio_lite.store import make_store
from nexio_lite.store.base import Store
from nexio_lite.verticals.carriers.carriers_io import (
    PoolImportError,
    format_from_filename,
    parse_pool_file,
)
from nexio_lite.verticals.carriers.pool import (
    DEMO_AS_OF,
    DEMO_POOL_ID,
    DEMO_SIZE,
    GENERATOR,
    generate_pool,
    serialize_jsonl,
)
from nexio_lite.verticals.carriers.schema import Carrier
from nexio_lite.verticals.carriers.stored import pack_stored_pool
from nexio_lite.verticals.screen import (
    MODEL_RULEBOOK_ID,
    Rulebook,
    RulebookError,
    RulebookProblem,
    load_rulebook,
    model_rulebook,
)
from nexio_lite.webhooks.signing import new_secret

DEMO_ORG = "demo"
IMPORTED_GENERATOR = "import"
RULEBOOK_REPORT_LIMIT = 50  # problems of a rule book file listed one per line, then a count


@attrs.frozen
class DemoReady:
    org_id: str
    webhook_secret: str
    api_key: str
    pool: PoolVersion
    rulebook: RulebookVersion | None = None


@attrs.frozen
class RulebookImport:
    """What a rule book import did: `version` is the current version now; `created` is
    False when the content was exactly the current version's (no new version was made)."""

    version: RulebookVersion
    created: bool


class RulebookFileError(NexioError):
    """A rule book file that cannot be imported; the message lists every problem with its
    JSON path (`rulebook_report`). Nothing was imported."""


def rulebook_report(
    source: str, problems: Sequence[RulebookProblem], limit: int = RULEBOOK_REPORT_LIMIT
) -> str:
    """The problems of the rule book file `source` for a person. One problem: one line,
    `rules.json: rules[9].cites[0]: ...; nothing was imported`. Several: a first line with
    their count, then one indented line each (`path: message`), at most `limit`, then
    `… and N more problems`."""
    if len(problems) == 1:
        return f"{source}: {problems[0]}; nothing was imported"
    lines = [f"{source}: {len(problems):,} problems, nothing was imported:"]
    lines += [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit:,} more problems")
    return "\n".join(lines)


class Admin:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Admin]:
        store = make_store(settings.database)
        await store.open()
        try:
            yield cls(store)
        finally:
            await store.close()

    async def _org(self, org_id: str) -> Org:
        org = await self.store.get_org(org_id)
        if org is None:
            raise NotFound(f"no organization {org_id!r} (create it with: orgs create {org_id})")
        return org

    async def create_org(self, org_id: str) -> Org:
        return await self.store.create_org(org_id, new_secret(), now_ms())

    async def rotate_secret(self, org_id: str) -> Org:
        await self._org(org_id)
        return await self.store.rotate_org_secret(org_id, new_secret(), now_ms())

    async def create_key(
        self, org_id: str, scopes: tuple[str, ...] | None, name: str
    ) -> tuple[ApiKey, str]:
        await self._org(org_id)
        secret = new_api_key()
        key = ApiKey(random_id("key_", 16), org_id, name, scopes or DEFAULT_SCOPES, now_ms())
        await self.store.create_key(key, hash_key(secret))
        return key, secret

    async def list_keys(self, org_id: str) -> list[ApiKey]:
        await self._org(org_id)
        return await self.store.list_keys(org_id)

    async def revoke_key(self, key_id: str) -> None:
        if not await self.store.revoke_key(key_id, now_ms()):
            raise NotFound(f"no key {key_id!r}")

    async def list_pools(self, org_id: str) -> list[PoolVersion]:
        await self._org(org_id)
        return await self.store.list_pools(org_id)

    async def add_pool(
        self, org_id: str, pool_id: str, carriers: list[Carrier], generator: str, as_of: dt.date
    ) -> PoolVersion:
        """Store the carriers as a new immutable version of the pool, unless the current
        version already holds exactly these carriers with the same date."""
        await self._org(org_id)
        data = serialize_jsonl(carriers)
        sha = hashlib.sha256(data).hexdigest()
        current = await self.store.current_pool(org_id, pool_id)
        if current is not None and current.sha256 == sha and current.as_of == as_of.isoformat():
            return current
        return await self.store.add_pool_version(
            org_id, pool_id, generator=generator, size=len(carriers), as_of=as_of.isoformat(),
            sha256=sha, blob=pack_stored_pool(data), now=now_ms(),
        )  # fmt: skip

    async def import_pool_file(
        self, org_id: str, pool_id: str, path: Path, as_of: dt.date | None
    ) -> PoolVersion:
        try:
            fmt = format_from_filename(path.name)
        except ValueError as exc:
            raise NexioError(str(exc)) from None
        data = await asyncio.to_thread(path.read_bytes)
        try:
            carriers = parse_pool_file(data, fmt)
        except PoolImportError as exc:
            more = len(exc.problems) - 1
            suffix = f" (and {more} more problems)" if more > 0 else ""
            raise NexioError(f"{path.name}: {exc}{suffix}; nothing was imported") from None
        return await self.add_pool(
            org_id, pool_id, carriers, IMPORTED_GENERATOR, as_of or dt.date.today()
        )

    async def demo_pool(self, org_id: str, pool_id: str = DEMO_POOL_ID,
                        size: int = DEMO_SIZE) -> PoolVersion:  # fmt: skip
        return await self.add_pool(org_id, pool_id, generate_pool(size), GENERATOR, DEMO_AS_OF)

    async def list_rulebooks(self, org_id: str) -> list[RulebookVersion]:
        await self._org(org_id)
        return await self.store.list_rulebooks(org_id)

    async def add_rulebook(
        self, org_id: str, rulebook_id: str, rulebook: Rulebook
    ) -> RulebookImport:
        """Store a checked rule book as a new immutable version of `rulebook_id`, unless
        the current version already holds exactly this content (the same sha256)."""
        await self._org(org_id)
        before = await self.store.current_rulebook(org_id, rulebook_id)
        version = await self.store.import_rulebook(
            org_id, rulebook_id, canonical=rulebook.canonical, sha256=rulebook.sha256,
            rules=len(rulebook.rules), regulations=len(rulebook.regulations), now=now_ms(),
        )  # fmt: skip
        return RulebookImport(version, before is None or before.version != version.version)

    async def import_rulebook_file(
        self, org_id: str, rulebook_id: str, path: Path
    ) -> RulebookImport:
        """Check the rule book file at `path` and import it; RulebookFileError lists every
        problem (with its JSON path) and nothing is imported."""
        await self._org(org_id)  # an unknown organization is refused before any work
        data = await asyncio.to_thread(path.read_bytes)
        try:
            rulebook = await asyncio.to_thread(load_rulebook, data)
        except RulebookError as exc:
            raise RulebookFileError(rulebook_report(path.name, exc.problems)) from None
        return await self.add_rulebook(org_id, rulebook_id, rulebook)

    async def demo_rulebook(
        self, org_id: str, rulebook_id: str = MODEL_RULEBOOK_ID
    ) -> RulebookImport:
        """The model rule book of SCREEN.md §6, as `rulebook_id`."""
        return await self.add_rulebook(org_id, rulebook_id, model_rulebook())

    async def backup(self, dest: str) -> int:
        """A consistent copy of the database at `dest` (a new file); its size in bytes."""
        return await self.store.backup(dest)

    async def demo(self) -> DemoReady:
        """Org `demo` (kept if it exists), a new key, the demo pool and the model rule
        book."""
        try:
            org = await self.create_org(DEMO_ORG)
        except Conflict:
            org = await self._org(DEMO_ORG)
        _, secret = await self.create_key(DEMO_ORG, None, "demo")
        pool = await self.demo_pool(DEMO_ORG)
        rulebook = await self.demo_rulebook(DEMO_ORG)
        return DemoReady(org.id, org.webhook_secret, secret, pool, rulebook.version)
