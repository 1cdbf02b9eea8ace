"""How a completed evaluation's ranked candidates are kept: JSON, zstd-compressed.

The candidates are most of a job's bytes (the demo pool's seed profile: 248 KB of JSON),
written once by a scoring process and read by every GET, listing page and webhook of
the job. zstd level 1 packs them in 0.14 ms to 22 KB and unpacks them in 0.05 ms, where
zlib level 1 took 0.55 ms for 28 KB and 0.24 ms to inflate (docs/benchmarks.md).

Jobs stored before this used zlib; `unpack` reads both (a zstd frame starts with its
magic number, a zlib stream never does), so no migration rewrites them.
"""

from __future__ import annotations

import threading
import zlib

import zstandard

LEVEL = 1
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# One compression and one decompression context per thread (a context is not
# thread-safe): making one for each call, as `zstandard.decompress` does, took about half
# of a 2 KB envelope's unpack.
_local = threading.local()


def pack(data: bytes) -> bytes:
    """`data` as one zstd frame (its size recorded, so `unpack` allocates once), with
    this thread's compression context (`zstandard.compress` makes one per call: 8 % of
    packing a demo-pool result)."""
    cctx = getattr(_local, "cctx", None)
    if cctx is None:
        cctx = _local.cctx = zstandard.ZstdCompressor(level=LEVEL)
    return cctx.compress(data)


def unpack(blob: bytes) -> bytes:
    """The bytes `pack` was given (or an older job's zlib-compressed candidates)."""
    if blob[:4] == _ZSTD_MAGIC:
        dctx = getattr(_local, "dctx", None)
        if dctx is None:
            dctx = _local.dctx = zstandard.ZstdDecompressor()
        return dctx.decompress(blob)
    return zlib.decompress(blob)
