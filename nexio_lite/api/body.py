"""Reading a request body (every handler that takes one reads it here): its content type,
its size, its encoding and the time it may take, each with its own error."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from aiohttp import web

from nexio_lite.api.context import services
from nexio_lite.api.responses import bad_request
from nexio_lite.errors import ApiError
from nexio_lite.validation import BodyError, parse_json_body

# Content codings we decode ourselves, with zlib's window bits for each (aiohttp's own
# decoding is off: it would inflate a whole body on the event loop, without a bound).
DECODED_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
                     "deflate": zlib.MAX_WBITS}  # fmt: skip
INFLATE_SLICE = 64 * 1024  # bytes inflated between two turns of the event loop

CLOSE = {"Connection": "close"}
CLOSE_GRACE_SECONDS = 1.0  # after a 408 or an unreadable body, see _close_after_answer


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, or the API error that says why not. Every handler that
    takes a body reads it here. In this order:

    - 415 `unsupported_media_type`: a Content-Type other than application/json, or a
      Content-Encoding other than identity or one of `DECODED_ENCODINGS` (`gzip`,
      `deflate`). 415 rather than 400 because RFC 9110 §15.5.16 names it for an
      unsupported content coding; the answer carries `Accept-Encoding`.
    - 413 `payload_too_large`: over `max_bytes` as sent, or once decoded (decoding
      stops at `max_bytes`: a small "zip bomb" costs no more than a large plain body,
      and the event loop gets a turn every `INFLATE_SLICE` bytes).
    - 408 `request_timeout`: the whole body did not arrive within
      `server.body_timeout_seconds` of the handler starting to read it.
    - 400 `invalid_request`: the body is not valid in its Content-Encoding (or ended
      before its declared length), is not JSON, or is not an object.

    After a 408 or a body that could not be read, the answer says `Connection: close`
    and the connection is closed as soon as it is sent: the rest of the body is never
    read."""
    _check_content_headers(request)
    raw = await _read_body(request, max_bytes)
    try:
        body = parse_json_body(raw)
    except BodyError as exc:
        raise bad_request(str(exc)) from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def _check_content_headers(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity") and encoding not in DECODED_ENCODINGS:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding[:40]!r} is not supported: use gzip, deflate or none",
            headers={"Accept-Encoding": "gzip, deflate"},
        )


async def _read_body(request: web.Request, max_bytes: int) -> bytes:
    too_large = ApiError(413, "payload_too_large", f"Request body is larger than {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    timeout = services(request).settings.server.body_timeout_seconds
    try:
        if request.content.is_eof():  # all of it arrived with the headers: no wait, no timer
            raw = await request.read()
        else:
            async with asyncio.timeout(timeout):
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    except TimeoutError:
        _close_after_answer(request)
        raise ApiError(408, "request_timeout",
                       f"The request body did not arrive within {timeout:g} seconds",
                       headers=CLOSE) from None  # fmt: skip
    except (web.RequestPayloadError, ConnectionResetError):
        _close_after_answer(request)
        raise ApiError(400, "invalid_request", _unreadable_body_message(request),
                       headers=CLOSE) from None  # fmt: skip
    if len(raw) > max_bytes:
        raise too_large
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in DECODED_ENCODINGS:
        return await _inflate(raw, DECODED_ENCODINGS[encoding], max_bytes, encoding)
    return raw


async def _inflate(raw: bytes, wbits: int, max_bytes: int, encoding: str) -> bytes:
    """Decode a gzip/deflate body, at most `max_bytes` of output (413 above), yielding to
    the event loop between slices; 400 when it is not valid or ends early."""
    invalid = bad_request(f"Request body is not valid {encoding} data (its Content-Encoding)")
    decoder = zlib.decompressobj(wbits)
    out = bytearray()
    pending = raw
    try:
        while pending and not decoder.eof:
            out += decoder.decompress(pending, INFLATE_SLICE)
            pending = decoder.unconsumed_tail
            if len(out) > max_bytes:
                message = f"Request body is larger than {max_bytes} bytes once decoded"
                raise ApiError(413, "payload_too_large", message)
            await asyncio.sleep(0)
    except zlib.error:
        raise invalid from None
    if not decoder.eof:
        raise invalid
    return bytes(out)


def _unreadable_body_message(request: web.Request) -> str:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in DECODED_ENCODINGS:
        return f"Request body is not valid {encoding} data (its Content-Encoding)"
    return "Request body could not be read: it ended early or its framing is invalid"


def _close_after_answer(request: web.Request) -> None:
    """Close the connection once this request's answer is written (this task is the one
    that writes it): the sending side at once, so the client reads the answer and then
    the end of the stream; the whole connection `CLOSE_GRACE_SECONDS` later. Until then
    what the client still sends is read and dropped (aiohttp's lingering read), so its
    bytes do not make the kernel reset the connection before the answer is read;
    without this, aiohttp would keep reading the rest of the body for 10 s."""
    task = asyncio.current_task()
    protocol, transport = request.protocol, request.transport
    if task is None or protocol is None or transport is None:
        return
    loop = asyncio.get_running_loop()

    def answered(_: object) -> None:
        if not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()
        loop.call_later(CLOSE_GRACE_SECONDS, protocol.force_close)

    task.add_done_callback(answered)
