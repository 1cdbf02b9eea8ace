"""Stored candidates: zstd now, zlib before; both read back."""

from __future__ import annotations

import zlib

from nexio_lite import packing


def test_pack_round_trips_and_is_a_zstd_frame() -> None:
    data = b'[{"rank":1,"carrier_id":"c-1"}]' * 1000
    blob = packing.pack(data)
    assert blob[:4] == b"\x28\xb5\x2f\xfd"
    assert len(blob) < len(data) // 10
    assert packing.unpack(blob) == data
    assert packing.unpack(packing.pack(b"")) == b""


def test_candidates_stored_by_an_earlier_version_still_read() -> None:
    data = b'[{"rank":1}]'
    assert packing.unpack(zlib.compress(data, 1)) == data
    assert packing.unpack(zlib.compress(data, 9)) == data


def test_unpack_from_several_threads_at_once() -> None:
    """Each thread has its own decompression context (one is not thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    datas = [b'[{"rank":%d,"carrier_id":"c-%d"}]' % (i, i) * (200 + i) for i in range(16)]
    blobs = [packing.pack(d) for d in datas]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(20):
            assert list(pool.map(packing.unpack, blobs)) == datas
