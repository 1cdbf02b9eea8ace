"""Job ids and envelope times (models.random_id, models.iso_ms): the fast versions keep
the exact texts and the randomness of the plain ones."""

from __future__ import annotations

import collections
import datetime as dt
import os
import random

from nexio_lite.models import BASE62, iso_ms, random_id


def _iso_by_datetime(ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def test_iso_ms_is_the_datetime_text_for_any_millisecond() -> None:
    rng = random.Random(7)
    samples = [0, 999, 1000, 1_764_518_400_123, 4_102_444_799_999]
    samples += [rng.randrange(0, 4_102_444_800_000) for _ in range(20_000)]
    for ms in samples:
        assert iso_ms(ms) == _iso_by_datetime(ms), ms
    assert iso_ms(None) is None
    assert iso_ms(1_764_518_400_123) == "2025-11-30T16:00:00.123Z"


def test_random_ids_have_the_prefix_length_and_alphabet() -> None:
    for length in (1, 16, 20, 64):
        job_id = random_id("eval_", length)
        assert job_id.startswith("eval_")
        assert len(job_id) == 5 + length
        assert set(job_id[5:]) <= set(BASE62)


def test_random_ids_are_unique_and_every_character_is_equally_likely() -> None:
    ids = [random_id("", 20) for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    counts = collections.Counter("".join(ids))
    assert set(counts) == set(BASE62)
    expected = sum(counts.values()) / 62
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < 120  # 61 degrees of freedom: above 120 has a chance below 1e-5


def test_a_forked_child_never_repeats_its_parents_random_bytes() -> None:
    random_id("warm_")  # the buffer now holds bytes the parent will use next
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next id and leave at once
        os.write(write, random_id("").encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id != random_id("")
