"""`POST /api/v1/jobs` and `GET /api/v1/jobs/{id}` (API.md §4–5)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _ascii_string
from typing import Any, NoReturn

from aiohttp import web

from nexio_lite import jobtypes
from nexio_lite.api.body import read_json_object
from nexio_lite.api.context import Services, authorize, services
from nexio_lite.api.responses import (
    JSON,
    bad_request,
    dumps,
    json_text,
    not_found,
    query_values,
)
from nexio_lite.envelope import envelope, envelope_bytes
from nexio_lite.errors import ApiError
from nexio_lite.fields import Choice, Integer, Pattern, Query
from nexio_lite.jobtypes import BY_NAME
from nexio_lite.logs import get_logger
from nexio_lite.models import (
    EVALUATION,
    IdempotencyState,
    JobStatus,
    NewJob,
    now_ms,
    random_id,
)
from nexio_lite.verticals.carriers.request import error_message, validate_request
from nexio_lite.webhooks.ssrf import UrlPolicy, check_url

log = get_logger("nexio_lite.api")

JOB_ID = re.compile(r"(?:eval|job)_[0-9A-Za-z]{16,64}")
RETRY_AFTER_SECONDS = "1"
CURSOR_PREFIX = "v1."
BAD_CURSOR = "cursor is not valid: use the next_cursor of a previous page"
WALK_SLICE = 5_000  # items canonical_json writes between two turns of the event loop
MAX_WAIT_SECONDS = 60
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
IDEMPOTENCY_STALE_MS = 60 * 1000  # a key whose request never finished (a crash) is freed

IDEMPOTENCY_KEY = Pattern(
    "[ -~]{1,255}",
    "Idempotency-Key must be 1-255 printable ASCII characters",
    "1-255 printable ASCII characters. The same key with the same body within 24 h "
    "answers the original response (with `Idempotent-Replayed: true`); with another "
    "body, 422.",
)

# The query parameters, declared once: the handlers parse with them and /openapi.json
# describes them.
WAIT_QUERY = (
    Query("wait", Integer(0, MAX_WAIT_SECONDS),
          "Long-poll: answer as soon as the job is terminal or after this many seconds.",
          default=0, message=f"wait must be an integer between 0 and {MAX_WAIT_SECONDS}"),
)  # fmt: skip


def list_query() -> tuple[Query, ...]:
    """The listing's parameters (`type`: the job types registered now)."""
    return (
        Query("status", Choice(tuple(s.value for s in JobStatus)), "Only jobs in this status."),
        Query("type", Choice(jobtypes.names()), "Only jobs of this type."),
        Query("limit", Integer(1, 100), "Page size, 1-100.", default=20,
              message="limit must be an integer between 1 and 100"),
        # A cursor is `v1.` and the sequence number where the previous page ended.
        Query("cursor", Pattern(r"v1\.[1-9][0-9]{0,17}", BAD_CURSOR),
              "`next_cursor` of the previous page."),
    )  # fmt: skip


# How a create endpoint turns a parsed body into a queued job and its 202 answer.
Submit = Callable[[Services, str, dict[str, Any], str | None], Awaitable[web.Response]]


async def submit_job(request: web.Request) -> web.Response:
    return await accept_job(request, _submit)


async def accept_job(request: web.Request, submit: Submit, kind: str = "") -> web.Response:
    """The machinery every job-creating POST shares (API.md §3-4): scope `jobs:write`, the
    body, and the `Idempotency-Key` (replay, reuse, in progress). `submit` validates and
    queues. `kind` (empty for evaluations, whose stored hashes predate it) is mixed into the
    body hash, so one key sent to two create endpoints is a reuse, never a replay."""
    svc = services(request)
    key = await authorize(request, "jobs:write")
    idem_key = _idempotency_key(request)
    body = await read_json_object(request, svc.settings.server.max_body_bytes)
    if idem_key is None:
        return await submit(svc, key.org_id, body, None)
    digest = await _body_hash(body, kind)
    claim = await svc.store.begin_idempotent(
        key.org_id, idem_key, digest, now_ms(), IDEMPOTENCY_TTL_MS, IDEMPOTENCY_STALE_MS
    )
    if claim.state is IdempotencyState.REUSED:
        raise ApiError(422, "idempotency_key_reused",
                       "This Idempotency-Key was used with a different request body")  # fmt: skip
    if claim.state is IdempotencyState.IN_PROGRESS:
        raise ApiError(409, "conflict", "A request with this Idempotency-Key is in progress")
    if claim.state is IdempotencyState.REPLAY:
        assert claim.response is not None
        headers = {"Location": f"/api/v1/jobs/{claim.job_id}", "Idempotent-Replayed": "true"}
        return json_text(claim.response, status=202, headers=headers)
    try:
        return await submit(svc, key.org_id, body, idem_key)
    except BaseException:
        await svc.store.abandon_idempotent(key.org_id, idem_key)
        raise


def check_webhook_url(svc: Services, url: str | None) -> None:
    """422 `invalid_webhook_url` unless `url` (when given) is an acceptable target."""
    if url is None:
        return
    hooks = svc.settings.webhooks
    reason = check_url(url, UrlPolicy(hooks.allow_private_targets, hooks.require_https))
    if reason is not None:
        raise ApiError(422, "invalid_webhook_url", reason)


async def enqueue_job(
    svc: Services, job: NewJob, answer: dict[str, Any], idem_key: str | None, **log_fields: Any
) -> web.Response:
    """Queue `job` durably (with the idempotency key's answer, in the same transaction)
    and answer 202 `answer` with its `Location`."""
    text = dumps(answer)
    await svc.store.enqueue(job, None if idem_key is None else (idem_key, text))
    svc.metrics.job_submitted(job.type)
    log.info("job_submitted", job_id=job.id, org_id=job.org_id, type=job.type, **log_fields)
    return json_text(text, status=202, headers={"Location": f"/api/v1/jobs/{job.id}"})


def _idempotency_key(request: web.Request) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if IDEMPOTENCY_KEY.check("Idempotency-Key", value) is not None:
        raise bad_request(IDEMPOTENCY_KEY.message)
    return value


async def _body_hash(body: dict[str, Any], kind: str = "") -> str:
    """Same request, same hash: key order and white space do not matter (see
    `canonical_json` for what does). A `kind` prefixes the text."""
    text = await canonical_json(body)
    if kind:
        text = f"{kind}\n{text}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class _HasDecimal(Exception):
    pass


def _refuse_decimal(value: object) -> NoReturn:
    raise _HasDecimal


async def canonical_json(value: Any) -> str:
    """One text per JSON value as `parse_json_body` returns it: keys sorted, no white
    space, ASCII only. Types are kept: a number is never written like a string (`0.5`
    and `"0.5"` differ), nor a fractional literal like an integer (`1.0` and `1` differ:
    an integer field refuses the first). A fractional literal (a `Decimal`) is written
    by its exact value, so `1.5`, `1.50` and `15e-1` are one text (`15E-1`): the same
    number, which every check treats alike. A value without fractional literals gets
    exactly the text `json.dumps(sort_keys=True, separators=(",", ":"))` gives it (so
    hashes stored before this encoder still match, and it is written by the C encoder).
    A value with fractional literals is walked in Python, letting the event loop run
    every `WALK_SLICE` items: a 256 KiB body of fractions takes ~0.1 s of CPU, in
    slices of ~10 ms."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_refuse_decimal)
    except (_HasDecimal, RecursionError):
        return await _canonical_walk(value)


async def _canonical_walk(value: Any) -> str:
    """`canonical_json` without recursion (any depth the parser accepts): each open
    container is an iterator of (text before the item, item) on a stack."""
    out: list[str] = []
    stack: list[tuple[Iterator[tuple[str, Any]], str]] = []
    item: Any = value
    for step in itertools.count(1):
        if step % WALK_SLICE == 0:
            await asyncio.sleep(0)
        if isinstance(item, dict):
            out.append("{")
            keys = sorted(item)
            prefixes = [("," if i else "") + _ascii_string(k) + ":" for i, k in enumerate(keys)]
            stack.append((zip(prefixes, [item[k] for k in keys], strict=True), "}"))
        elif isinstance(item, list):
            out.append("[")
            commas = itertools.chain(("",), itertools.repeat(","))
            stack.append((zip(commas, item, strict=False), "]"))
        else:
            out.append(_leaf_text(item))
        while stack:
            following = next(stack[-1][0], None)
            if following is not None:
                out.append(following[0])
                item = following[1]
                break
            out.append(stack.pop()[1])
        else:
            break
    return "".join(out)


def _leaf_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _ascii_string(value)
    if kind is Decimal:
        return _decimal_text(value)
    if kind is int:
        return int.__repr__(value)
    return json.dumps(value)  # true, false, null


def _decimal_text(value: Decimal) -> str:
    """The exact value as `<digits>E<exponent>`, trailing zeros moved into the exponent
    (no rounding context is involved); every zero is `0E0`."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity: parse_json_body refuses them
        return str(value)
    text = "".join(map(str, digits)).lstrip("0")
    significant = text.rstrip("0")
    if not significant:
        return "0E0"
    exponent += len(text) - len(significant)
    return f"{'-' if sign else ''}{significant}E{exponent}"


async def _submit(
    svc: Services, org_id: str, body: dict[str, Any], idem_key: str | None
) -> web.Response:
    validated = validate_request(body)
    if isinstance(validated, list):
        raise bad_request(error_message(validated), [d.to_dict() for d in validated])
    pool = await svc.current_pool(org_id, validated.pool)
    if pool is None:
        raise ApiError(
            422, "unknown_pool", f"Pool '{validated.pool}' not found for your organization"
        )
    check_webhook_url(svc, validated.webhook_url)
    job = NewJob(
        id=random_id(BY_NAME[EVALUATION].id_prefix),
        org_id=org_id,
        type=EVALUATION,
        request=dumps(validated.normalized),
        created_at=now_ms(),
        pool_id=pool.pool_id,
        pool_version=pool.version,
        webhook_url=validated.webhook_url,
    )
    return await enqueue_job(svc, job, {"eval_id": job.id, "status": "queued"}, idem_key,
                             pool=pool.pool_id, pool_version=pool.version)  # fmt: skip


async def get_job(request: web.Request) -> web.Response:
    """The job envelope. `?wait=N` (0-60) answers as soon as the job is terminal, or
    after N seconds: woken by the worker that finishes it, never by polling."""
    svc = services(request)
    key = await authorize(request, "jobs:read")
    wait = query_values(request, WAIT_QUERY)["wait"]
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise not_found(f"Job '{job_id}' not found")
    waiter = svc.waiters.register(job_id) if wait else None
    try:
        job = await svc.store.get_job(key.org_id, job_id)
        if job is None:
            raise not_found(f"Job '{job_id}' not found")
        if waiter is not None and not job.status.terminal:
            await asyncio.wait({waiter}, timeout=wait)
            job = await svc.store.get_job(key.org_id, job_id) or job
    finally:
        if waiter is not None:
            svc.waiters.forget(job_id, waiter)
    headers = None if job.status.terminal else {"Retry-After": RETRY_AFTER_SECONDS}
    body = await envelope_bytes(job, svc.settings.base_url)
    return web.Response(body=body, content_type=JSON, headers=headers)


async def list_jobs(request: web.Request) -> web.Response:
    """The organization's jobs, newest first, without candidates, `limit` per page; the
    cursor pages backwards from where the previous page ended, so pages stay stable
    while new jobs arrive."""
    svc = services(request)
    key = await authorize(request, "jobs:read")
    query = query_values(request, list_query())
    limit, status, job_type = query["limit"], query["status"], query["type"]
    before = None if query["cursor"] is None else int(query["cursor"][len(CURSOR_PREFIX) :])
    jobs = await svc.store.list_jobs(key.org_id, limit=limit + 1, status=status,
                                     job_type=job_type, before_seq=before)  # fmt: skip
    page = jobs[:limit]
    next_cursor = _encode_cursor(page[-1].seq) if len(jobs) > limit else None
    items = ",".join(envelope(j, svc.settings.base_url, with_candidates=False) for j in page)
    return json_text(f'{{"data":[{items}],"next_cursor":{dumps(next_cursor)}}}')


def _encode_cursor(seq: int) -> str:
    return f"{CURSOR_PREFIX}{seq}"
