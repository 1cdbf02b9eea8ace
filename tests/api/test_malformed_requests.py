"""Every malformed request gets its 4xx (API.md §3): bodies in a bad or unknown
Content-Encoding, a body that arrives too slowly, out-of-range cursors and over-long
numbers in the query, and Idempotency-Key bodies that differ only in a value's type."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
import zlib
from typing import Any

import pytest

from .conftest import SEED_BODY, World, WorldFactory
from .test_submit import error_of

PROFILE_WITH_RATIO = dict(SEED_BODY["profile"], loss_ratio=0.5)


async def _post_raw(world: World, raw: bytes, **headers: str) -> Any:
    headers = {"Content-Type": "application/json", **headers}
    return await world.client.post("/api/v1/jobs", data=raw, headers=world.headers(**headers))


# --- webhook URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://xn--a.example/", "http://xn--/", "http://xn--zz-.example/hook",
     "https://" + "a" * 64 + ".example/", "http://a..b/", "http://[::1", "http://[v1.x]/"],
)  # fmt: skip
async def test_a_webhook_host_that_is_not_a_valid_name_is_422_at_submit(
    world: World, url: str
) -> None:
    err = await error_of(await world.submit(dict(SEED_BODY, webhook_url=url)), 422)
    assert err["code"] == "invalid_webhook_url"


# --- Content-Encoding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [("gzip", b"this is not gzip"), ("deflate", b"nor is this deflate"),
     ("gzip", gzip.compress(json.dumps(SEED_BODY).encode())[:12] + b"\x00" * 40),
     ("GZIP", b"\x1f\x8b not really")],
)  # fmt: skip
async def test_a_body_not_valid_in_its_content_encoding_is_400(
    world: World, encoding: str, raw: bytes
) -> None:
    resp = await _post_raw(world, raw, **{"Content-Encoding": encoding})
    err = await error_of(resp, 400)
    assert err["code"] == "invalid_request"
    assert f"not valid {encoding.lower()} data" in err["message"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda b: b)],
)
async def test_a_body_in_a_supported_content_encoding_is_accepted(
    world: World, encoding: str, compress: Any
) -> None:
    raw = compress(json.dumps(SEED_BODY).encode())
    resp = await _post_raw(world, raw, **{"Content-Encoding": encoding})
    assert resp.status == 202, await resp.text()


@pytest.mark.parametrize("encoding", ["compress", "br", "zstd", "gzip, gzip", "rot13", "*"])
async def test_an_unknown_content_encoding_is_415_naming_what_is_accepted(
    world: World, encoding: str
) -> None:
    resp = await _post_raw(world, json.dumps(SEED_BODY).encode(),
                           **{"Content-Encoding": encoding})  # fmt: skip
    err = await error_of(resp, 415)
    assert err["code"] == "unsupported_media_type"
    assert "Content-Encoding" in err["message"]
    assert resp.headers["Accept-Encoding"] == "gzip, deflate"


async def test_a_gzip_bomb_is_413(world: World) -> None:
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    err = await error_of(await _post_raw(world, bomb, **{"Content-Encoding": "gzip"}), 413)
    assert err["code"] == "payload_too_large"


async def test_the_maintenance_endpoint_reads_its_body_the_same_way(world: World) -> None:
    resp = await world.client.post(
        "/api/v1/maintenance/jobs", data=b"not gzip",
        headers=world.headers(**{"Content-Type": "application/json", "Content-Encoding": "gzip"}),
    )  # fmt: skip
    assert (await error_of(resp, 400))["code"] == "invalid_request"


# --- a slow body --------------------------------------------------------------------


async def _trickle(writer: asyncio.StreamWriter, interval: float) -> None:
    """Send one byte of body every `interval` seconds until the server hangs up."""
    with contextlib.suppress(ConnectionError):
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(interval)


async def test_a_body_sent_at_one_byte_a_second_gets_408_and_the_connection_is_closed(
    make_world: WorldFactory,
) -> None:
    world = await make_world(server={"body_timeout_seconds": 1})
    server = world.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        "POST /api/v1/jobs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {world.keys['full']}\r\nContent-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode())
    started = time.monotonic()
    trickle = asyncio.create_task(_trickle(writer, 1.0))
    try:
        # Everything until the server closes the connection: it must not wait for the
        # 1000 bytes (1000 s) nor linger reading them (aiohttp's default is 10 s).
        answer = await asyncio.wait_for(reader.read(), timeout=8)
    finally:
        trickle.cancel()
        writer.close()
    elapsed = time.monotonic() - started
    head_text, _, body = answer.partition(b"\r\n\r\n")
    assert head_text.startswith(b"HTTP/1.1 408 "), answer
    assert b"\r\nConnection: close" in head_text
    assert b"\r\nContent-Type: application/json" in head_text
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert error["details"] == []
    assert 0.9 <= elapsed < 5, elapsed


async def test_a_body_that_arrives_in_time_is_read_whole(make_world: WorldFactory) -> None:
    world = await make_world(server={"body_timeout_seconds": 1})
    assert (await world.submit()).status == 202


# --- query parameters ---------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    ["v1.9223372036854775808",  # 2^63: beyond SQLite's INTEGER
     "v1." + "9" * 19, "v1." + "9" * 5000, "v1.0", "v1.-1", "v1.01", "v1.+1", "v1.1 ",
     "v1.\u0663", "v2.1", "v1:1", "djE6MQ", "A" * 5000, "\u00e9", ""],
)  # fmt: skip
async def test_a_cursor_that_is_not_a_valid_sequence_number_is_400(
    world: World, cursor: str
) -> None:
    resp = await world.client.get("/api/v1/jobs", params={"cursor": cursor},
                                  headers=world.headers())  # fmt: skip
    err = await error_of(resp, 400)
    assert err["message"].startswith("cursor is not valid")


async def test_the_largest_cursor_is_valid(world: World) -> None:
    url = "/api/v1/jobs?cursor=v1." + "9" * 18  # the largest the cursor's pattern allows
    resp = await world.client.get(url, headers=world.headers())
    assert resp.status == 200


@pytest.mark.parametrize("digits", ["9" * 4300, "9" * 4301, "1" + "0" * 6000, "9" * 10, "١"])
@pytest.mark.parametrize(
    ("path", "name"), [("/api/v1/jobs", "limit"), ("/api/v1/jobs/eval_0123456789abcdef", "wait")]
)
async def test_a_number_of_thousands_of_digits_in_the_query_is_400(
    world: World, path: str, name: str, digits: str
) -> None:
    resp = await world.client.get(path, params={name: digits}, headers=world.headers())
    err = await error_of(resp, 400)
    assert err["message"].startswith(f"{name} must be an integer between")


async def test_leading_zeros_do_not_count_against_the_digit_limit(world: World) -> None:
    resp = await world.client.get("/api/v1/jobs", params={"limit": "0" * 50 + "5"},
                                  headers=world.headers())  # fmt: skip
    assert resp.status == 200


# --- the idempotency hash -----------------------------------------------------------


async def _submit_keyed(world: World, idem_key: str, profile: dict[str, Any]) -> Any:
    headers = world.headers(**{"Idempotency-Key": idem_key})
    return await world.client.post("/api/v1/jobs", json=dict(SEED_BODY, profile=profile),
                                   headers=headers)  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second"),
    [(0.5, "0.5"), (1.25, "1.25"), (1.0, "1.0"), (1, 1.0), (1.0, 1), (0.5, 0.6), (1, "1"),
     (1, True)],
)  # fmt: skip
async def test_a_value_of_another_type_under_one_idempotency_key_is_422(
    world: World, first: Any, second: Any
) -> None:
    resp = await _submit_keyed(world, "typed", dict(SEED_BODY["profile"], loss_ratio=first))
    assert resp.status == 202, await resp.text()
    resp = await _submit_keyed(world, "typed", dict(SEED_BODY["profile"], loss_ratio=second))
    err = await error_of(resp, 422)
    assert err["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("raw_ratio", ["0.50", "5e-1", "0.500000", "50E-2"])
async def test_the_same_number_written_another_way_replays_the_original(
    world: World, raw_ratio: str
) -> None:
    first = await _submit_keyed(world, "same-number", PROFILE_WITH_RATIO)
    assert first.status == 202
    text = json.dumps(dict(SEED_BODY, profile=PROFILE_WITH_RATIO)).replace("0.5", raw_ratio)
    again = await _post_raw(world, text.encode(), **{"Idempotency-Key": "same-number"})
    assert again.status == 202, await again.text()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()


async def test_a_deeply_nested_body_with_an_idempotency_key_is_400(world: World) -> None:
    depth = 500
    raw = '{"loss": 0.5, "profile": ' + "[" * depth + "]" * depth + ', "pool": "carriers:all"}'
    resp = await _post_raw(world, raw.encode(), **{"Idempotency-Key": "deep"})
    assert (await error_of(resp, 400))["code"] == "invalid_request"
