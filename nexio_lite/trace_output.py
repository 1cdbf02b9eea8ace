"""The audit trace as bytes ready to send: its JSON (DOMAIN.md §8) or one HTML page.

Runs in a scoring process, so that the server's event loop never parses, builds or
renders a trace. Guarantees:

- `trace_bytes(..., view="summary")` is exactly `jsontext.dumps(build_trace(...))` as
  UTF-8 bytes (the audit record, byte for byte).
- `trace_bytes(..., view="full")` is the same for the full trace, gzip-compressed
  (RFC 1952, level 1, no timestamp: the same trace gives the same bytes). It is built
  and compressed a few hundred carrier entries at a time, so a 99,999-carrier trace
  (~210 MB of JSON, ~15 MB compressed) never exists whole in the scoring process, and
  the server receives, unpickles and sends ~15 MB instead of 210 MB: unpickling 210 MB
  held the server's GIL (and so its event loop) for ~150 ms.
- `trace_bytes(..., view=TracePage(n))` is page n of the HTML view (`trace_page`),
  UTF-8; ValueError when n is past the last page.
- `trace_bytes(..., view=v)` for any other `TraceView` (the web console's trace page,
  `console/tracedata.py`) is whatever `v.render(...)` returns: a view that computes
  only what one page shows, in the scoring process like the others.

A gzip stream starts with the bytes 1f 8b, which no JSON or HTML text does (`is_gzip`).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import orjson

from nexio_lite.trace_page import TracePage, render_trace_page
from nexio_lite.verticals.carriers.prepared import PreparedPool
from nexio_lite.verticals.carriers.schema import Options, Profile
from nexio_lite.verticals.carriers.trace import trace_parts

ENTRIES_PER_WRITE = 500  # ~1 MB of JSON per write for a full trace's carrier entries
GZIP_LEVEL = 1  # 210 MB -> ~15 MB in ~1 s; higher levels gain little on this JSON
GZIP_MAGIC = b"\x1f\x8b"


class TraceView(Protocol):
    """A view of a trace that renders itself in the scoring process (it must pickle)."""

    def render(
        self,
        pool: PreparedPool,
        profile: Profile,
        options: Options,
        *,
        eval_id: str,
        created_at: str,
        stages: list[dict[str, Any]],
    ) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


class GzipBuffer:
    """A writer that gzips what it is given into memory; `finish` returns the stream."""

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip wrapper
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        out = self._deflate.compress(data)
        if out:
            self._parts.append(out)

    def finish(self) -> bytes:
        """The complete gzip stream; call it once, after the last write."""
        return b"".join([*self._parts, self._deflate.flush()])


def is_gzip(body: bytes) -> bool:
    """Whether `body` is a gzip stream (as `trace_bytes` gives full traces)."""
    return body[:2] == GZIP_MAGIC


def json_bytes(value: Any) -> bytes:
    """`jsontext.dumps(value)` as UTF-8 bytes: compact, key order kept, non-ASCII as is."""
    try:
        return orjson.dumps(value)
    except TypeError:  # a value orjson does not know (Decimal, an integer beyond 64 bits)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def write_json_with_list(
    out: Writer, head: Mapping[str, Any], key: str, items: Iterable[Any]
) -> None:
    """Write `json_bytes({**head, key: list(items)})` (`key` not in `head`) to `out`,
    `ENTRIES_PER_WRITE` items at a time, so the items need never all exist at once."""
    opening = json_bytes(dict(head))
    out.write(opening[:-1])  # without the closing "}"
    out.write(b"," if head else b"")
    out.write(json_bytes(key))
    out.write(b":[")
    separator = b""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, ENTRIES_PER_WRITE)):
        out.write(separator)
        out.write(json_bytes(batch)[1:-1])  # the items without the list's brackets
        separator = b","
    out.write(b"]}")


def trace_bytes(
    pool: PreparedPool,
    profile: Profile,
    options: Options,
    *,
    eval_id: str,
    created_at: str,
    stages: list[dict[str, Any]],
    view: str | TracePage | TraceView,
) -> bytes:
    """The trace of one evaluation as JSON bytes (`view` "summary"), gzipped JSON bytes
    (`view` "full"), the HTML page `view` (a TracePage) or what another TraceView
    renders; see the module docstring."""
    if not isinstance(view, str | TracePage):
        return view.render(
            pool, profile, options, eval_id=eval_id, created_at=created_at, stages=stages
        )
    level = "summary" if isinstance(view, TracePage) else view
    head, carriers = trace_parts(
        pool, profile, options, eval_id=eval_id, created_at=created_at, stages=stages, level=level
    )
    if isinstance(view, TracePage):
        return render_trace_page(head, view).encode()
    if carriers is None:
        return json_bytes(head)
    out = GzipBuffer()
    write_json_with_list(out, head, "carriers", carriers)
    return out.finish()
