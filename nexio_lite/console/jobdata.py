"""A job as the console's Job page shows it: the envelope without its candidates, and
one page of the ranked candidates, read from the stored (compressed) JSON array
without parsing the rest of it.

A 99,999-carrier pool's job holds ~31,000 candidates (13.8 MB of JSON): parsing all of
them for a page of 50 would cost ~100 ms of CPU. The array is written by orjson with
`rank` first in every object, so the page's first and last objects are found by a byte
search for `{"rank":N,` (a string inside the JSON cannot contain that sequence: its
quotes would be escaped) and only that slice is parsed. Callers run these functions in
a worker thread (zstd and zlib unpack without holding the GIL).
"""

from __future__ import annotations

from typing import Any

import orjson

from nexio_lite import packing
from nexio_lite.envelope import envelope
from nexio_lite.models import Job

CANDIDATES_PER_PAGE = 50


def envelope_fields(job: Job, base_url: str) -> dict[str, Any]:
    """The job's envelope (API.md §5) without its candidates."""
    fields: dict[str, Any] = orjson.loads(envelope(job, base_url, with_candidates=False))
    return fields


def _marker(rank: int) -> bytes:
    return b'{"rank":' + str(rank).encode() + b","


def candidate_slice(text: bytes, first_rank: int, count: int) -> list[dict[str, Any]]:
    """The candidates ranked `first_rank` … `first_rank + count - 1` of a JSON array of
    candidates (ranks 1, 2, … in order), parsing only their part of `text`."""
    start = text.find(_marker(first_rank))
    if start < 0:
        return []
    end = text.find(_marker(first_rank + count), start)
    if end < 0:
        end = text.rindex(b"]")
    else:
        end -= 1  # the comma between two objects
    items: list[dict[str, Any]] = orjson.loads(b"[" + text[start:end] + b"]")
    if items and items[0].get("rank") != first_rank:  # not the layout expected: parse it all
        every: list[dict[str, Any]] = orjson.loads(text)
        return every[first_rank - 1 : first_rank - 1 + count]
    return items


def candidate_page(job: Job, page: int) -> list[dict[str, Any]]:
    """Page `page` (1-based) of the job's ranked candidates ([] when none is stored)."""
    if job.candidates is None:
        return []
    text = packing.unpack(job.candidates)
    return candidate_slice(text, (page - 1) * CANDIDATES_PER_PAGE + 1, CANDIDATES_PER_PAGE)
