"""The malformed-input battery against a real `nexio-lite serve` (API.md §3): every
request below gets its 4xx, never a 5xx or a hang, with the JSON error body wherever
the application answers (what aiohttp's HTTP parser refuses before the application
runs may be plain text), and the server logs no `request_failed`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import time
from pathlib import Path
from typing import Any

import attrs

from .conftest import SEED_BODY, Server, cli_env, demo_key, free_port, run_cli

PARSER = None  # expected code when aiohttp's HTTP parser may answer first, in plain text


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error_code(self) -> str | None:
        """The JSON error body's code, or None when the body is not that JSON."""
        if not self.headers.get("content-type", "").startswith("application/json"):
            return None
        with contextlib.suppress(ValueError, KeyError, TypeError):
            error = json.loads(self.body)["error"]
            if set(error) == {"code", "message", "details"}:
                return str(error["code"])
        return None


@attrs.frozen
class Case:
    """One raw request and what it must get: `status`, and the `code` of its JSON error
    body, or None where no body is checked: an answer that is not an error, or one that
    aiohttp's HTTP parser may give before the application runs (`PARSER`)."""

    name: str
    request: bytes
    status: int
    code: str | None


def http(
    method: str, target: str | bytes, body: bytes = b"", *, key: str | None = None,
    content_type: str | None = "application/json", **headers: str | bytes,
) -> bytes:  # fmt: skip
    """One HTTP/1.1 request, byte for byte (header names: `_` for `-`)."""
    lines = [method.encode() + b" " + (target if isinstance(target, bytes) else target.encode())
             + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]  # fmt: skip
    if key is not None:
        lines.append(b"X-API-Key: " + key.encode())
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type.encode())
    for name, value in headers.items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.replace("_", "-").encode() + b": " + raw)
    if body or method == "POST":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send(port: int, request: bytes, timeout: float = 10) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return parse_answer(raw)


def parse_answer(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def submit_body(**changes: Any) -> bytes:
    return json.dumps(dict(SEED_BODY, **changes)).encode()


def battery(key: str, admin_key: str) -> list[Case]:
    """The cases, with two keys of a live organization: `key` with the default scopes
    (jobs:write, jobs:read, traces:read), `admin_key` with admin alone."""

    def post(body: bytes, **headers: str | bytes) -> bytes:
        return http("POST", "/api/v1/jobs", body, key=key, **headers)

    def get(target: str | bytes, **headers: str | bytes) -> bytes:
        return http("GET", target, key=key, content_type=None, **headers)

    digits = "9" * 5000
    webhooks = ["http://xn--a.example/", "http://xn--/", "http://xn--a-ecp.ru/",
                "http://" + "a" * 64 + ".example/", "http://a..b/", "http://a b/",
                "http://[::1", "http://[v1.x]/", "https://xn--zz-.example:8080/x"]  # fmt: skip
    return [
        *[Case(f"webhook {url!r}", post(submit_body(webhook_url=url)), 422, "invalid_webhook_url")
          for url in webhooks],
        Case("gzip that is not gzip", post(b"not gzip", Content_Encoding="gzip"),
             400, "invalid_request"),
        Case("deflate that is not deflate", post(b"\xff\xfe\xfd", Content_Encoding="deflate"),
             400, "invalid_request"),
        Case("truncated gzip", post(gzip.compress(submit_body())[:15], Content_Encoding="gzip"),
             400, "invalid_request"),
        Case("br (not decoded here)",
             post(b"not brotli", Content_Encoding="br"), 415, "unsupported_media_type"),
        Case("unknown Content-Encoding", post(submit_body(), Content_Encoding="compress"),
             415, "unsupported_media_type"),
        Case("gzip bomb", post(gzip.compress(b" " * 2_000_000), Content_Encoding="gzip"),
             413, "payload_too_large"),
        Case("cursor 2^63", get(f"/api/v1/jobs?cursor={cursor('v1:9223372036854775808')}"),
             400, "invalid_request"),
        Case("cursor of 5000 digits", get(f"/api/v1/jobs?cursor={cursor('v1:' + '9' * 5000)}"),
             400, "invalid_request"),
        Case("limit of 5000 digits", get(f"/api/v1/jobs?limit={digits}"), 400, "invalid_request"),
        Case("wait of 5000 digits", get(f"/api/v1/jobs/eval_0123456789abcdef?wait={digits}"),
             400, "invalid_request"),
        Case("limit of 9000 digits (over the request line limit)",
             get(f"/api/v1/jobs?limit={'9' * 9000}"), 400, PARSER),
        Case("body not JSON", post(b'{"profile": '), 400, "invalid_request"),
        Case("body not an object", post(b"[1, 2]"), 400, "invalid_request"),
        Case("body nested 100,000 deep", post(b"[" * 100_000), 400, "invalid_request"),
        Case("deep nesting with an Idempotency-Key",
             post(b'{"r": 0.5, "d": ' + b"[" * 500 + b"]" * 500 + b"}", Idempotency_Key="deep"),
             400, "invalid_request"),
        Case("body not UTF-8", post(b'{"pool": "\xff\xfe"}'), 400, "invalid_request"),
        Case("body over the limit", post(b" " * 300_000), 413, "payload_too_large"),
        Case("no Content-Type", http("POST", "/api/v1/jobs", submit_body(), key=key,
                                     content_type=None), 415, "unsupported_media_type"),
        Case("API key not UTF-8", http("GET", "/api/v1/jobs", content_type=None,
                                       X_API_Key=b"\xff\xfe\x80"), 401, "unauthorized"),
        Case("Bearer of nothing", http("GET", "/api/v1/pools", content_type=None,
                                       Authorization="Bearer    "), 401, "unauthorized"),
        Case("Idempotency-Key not UTF-8", post(submit_body(), Idempotency_Key=b"\xff\xfe"),
             400, "invalid_request"),
        Case("Idempotency-Key of 8000 characters", post(submit_body(), Idempotency_Key="k" * 8000),
             400, "invalid_request"),
        Case("Idempotency-Key of 20,000 characters (over the header limit)",
             post(submit_body(), Idempotency_Key="k" * 20_000), 400, PARSER),
        Case("path not UTF-8", get(b"/api/v1/jobs/eval_\xff\xfe\xfd0123456789abcdef"),
             400, PARSER),
        Case("bad percent-encoding in the path", get("/api/v1/jobs/%zz%%%"), 404, "not_found"),
        Case("percent-encoded bytes not UTF-8", get("/api/v1/jobs/eval_%ff%fe0123456789abcdef"),
             404, "not_found"),
        Case("NUL in the path", get("/traces/eval_%000123456789abcdef"), 404, "not_found"),
        Case("bad percent-encoding in the query", get("/api/v1/jobs?limit=%zz&status=%ff"),
             400, "invalid_request"),
        Case("a query of 2000 empty parameters", get("/api/v1/jobs?" + "&" * 2000),
             200, None),
        Case("status that is not one", get("/api/v1/jobs?status=" + "x" * 5000),
             400, "invalid_request"),
        Case("method not allowed", http("PATCH", "/api/v1/jobs", b"{}", key=key),
             405, "method_not_allowed"),
        Case("unknown method", http("BREW", "/api/v1/jobs", key=key, content_type=None),
             400, PARSER),
        Case("gzip that is not gzip, without a key", http("POST", "/api/v1/jobs", b"not gzip",
                                                          Content_Encoding="gzip"),
             401, "unauthorized"),
        Case("Content-Length that is not a number",
             http("POST", "/api/v1/jobs", key=key, Content_Length="ten") + b"{}", 400, PARSER),
        Case("bad chunked framing", http("POST", "/api/v1/jobs", key=key,
                                         Transfer_Encoding="chunked") + b"zz\r\n{}\r\n0\r\n\r\n",
             400, PARSER),
        Case("trace id of 5000 characters", get("/traces/eval_" + "A" * 5000), 404, "not_found"),
        Case("maintenance body in bad gzip", http("POST", "/api/v1/maintenance/jobs", b"nope",
                                                  key=admin_key, Content_Encoding="gzip"),
             400, "invalid_request"),
        Case("maintenance body not an object", http("POST", "/api/v1/maintenance/jobs", b"7",
                                                     key=admin_key), 400, "invalid_request"),
        Case("redeliver of a job that is not there",
             http("POST", "/api/v1/jobs/eval_0123456789abcdef/deliveries/redeliver", b"{}",
                  key=key), 404, "not_found"),
    ]  # fmt: skip


async def slow_body_problem(port: int, key: str) -> str | None:
    """None when a body sent at one byte a second gets 408 `request_timeout` and the
    connection is closed at once (not read for minutes, nor lingered on for 10 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = http("POST", "/api/v1/jobs", key=key)
    writer.write(head.replace(b"Content-Length: 0", b"Content-Length: 500"))
    started = time.monotonic()

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(1)

    sender = asyncio.create_task(trickle())
    try:
        raw = await asyncio.wait_for(reader.read(), 15)  # until the server closes
    except TimeoutError:
        return "slow body: no answer, connection still open after 15 s"
    finally:
        sender.cancel()
        writer.close()
    answer, elapsed = parse_answer(raw), time.monotonic() - started
    if (answer.status, answer.error_code()) != (408, "request_timeout"):
        return f"slow body: {answer.status} {answer.body[:200]!r}, expected 408"
    if answer.headers.get("connection") != "close" or elapsed > 5:
        return f"slow body: the connection was closed only after {elapsed:.1f} s"
    return None


async def typed_idempotency_problem(port: int, key: str) -> str | None:
    """None when `loss_ratio` 0.5, then "0.5", under one Idempotency-Key get 202, then
    422 `idempotency_key_reused` (not a replay of the first)."""
    answers = []
    for ratio in (0.5, "0.5"):
        body = submit_body(profile=dict(SEED_BODY["profile"], loss_ratio=ratio))
        answer = await send(port, http("POST", "/api/v1/jobs", body, key=key,
                                       Idempotency_Key="typed"))  # fmt: skip
        answers.append((answer.status, answer.error_code()))
    if answers != [(202, None), (422, "idempotency_key_reused")]:
        return f"0.5 then '0.5' under one Idempotency-Key: {answers}"
    return None


def mismatch(case: Case, answer: Answer) -> str | None:
    code = answer.error_code()
    if answer.status != case.status:
        return f"{case.name}: {answer.status} {answer.body[:200]!r}, expected {case.status}"
    if case.code is not None and code != case.code:
        return f"{case.name}: {answer.status} with {answer.body[:200]!r}, expected {case.code}"
    return None


async def test_every_malformed_request_gets_its_4xx_and_nothing_fails(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(
        tmp_path,
        NEXIO_SERVER_BODY_TIMEOUT_SECONDS="1",
        # No job runs, so no webhook is ever sent, whatever a case gets accepted.
        NEXIO_WORKERS_CONCURRENCY="0",
        # Accepted at start, and far above what the battery sends.
        NEXIO_LIMITS_REQUESTS_PER_SECOND_PER_KEY="1000",
    )
    key = await demo_key(env)
    code, out, err = await run_cli(env, "keys", "create", "--org", "acme", "--scopes", "admin")
    assert code == 0, err
    admin_key = out.strip().splitlines()[-1]
    server = server_factory(env, free_port(), tmp_path / "server.log")
    await server.start()

    slow = asyncio.create_task(slow_body_problem(server.port, key))
    problems = []  # no case expects a 5xx: any 5xx is a mismatch
    for case in battery(key, admin_key):
        problem = mismatch(case, await send(server.port, case.request))
        if problem is not None:
            problems.append(problem)
    for problem in (await typed_idempotency_problem(server.port, key), await slow):
        if problem is not None:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert server.events("request_failed") == []
    plain = [line for line in server.log_path.read_text().splitlines()
             if not line.startswith("{")]  # fmt: skip
    assert plain == [], "every log line is one JSON event, none a bare traceback"
    assert server.events("http_request_rejected"), "what the HTTP parser refused is logged"
