"""The synthetic pool `nexio-pool-v1` (DOMAIN.md §9) against the spec's own checks.

The demo pool is generated once per module; every statistic of "Resulting pool
(prototype)" and the published SHA-256 are asserted exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter

import pytest

from nexio_lite.verticals.carriers.pool import (
    CARRIER_KEYS,
    DEMO_AS_OF,
    DEMO_POOL_ID,
    GENERATOR,
    MAX_SIZE,
    NAME_CAPACITY,
    _Draws,
    _NameBook,
    carrier_to_dict,
    demo_pool_meta,
    generate_pool,
    pool_sha256,
    serialize_jsonl,
)
from nexio_lite.verticals.carriers.schema import LINES, STATES, Carrier

DEMO_SHA256 = "7c4618a074fc7dc553368138bf46b4e38f7ad7e6e9c057438b40b8d6865bd94f"
DENYLIST = (
    "Hartford",
    "Travelers",
    "Liberty",
    "Westfield",
    "Northfield",
    "Chubb",
    "Zurich",
    "AIG",
    "Allstate",
    "Nationwide",
    "Progressive",
    "Berkshire",
    "Markel",
    "Cincinnati",
    "Erie",
    "Farmers",
)


@pytest.fixture(scope="module")
def pool() -> list[Carrier]:
    return generate_pool()


def test_demo_pool_hashes_to_the_published_sha256(pool: list[Carrier]) -> None:
    assert len(pool) == 1847
    assert pool_sha256(pool) == DEMO_SHA256
    assert hashlib.sha256(serialize_jsonl(pool)).hexdigest() == DEMO_SHA256


def test_demo_pool_meta(pool: list[Carrier]) -> None:
    meta = demo_pool_meta(pool)
    assert (meta.pool_id, meta.generator, meta.size) == (DEMO_POOL_ID, GENERATOR, 1847)
    assert (meta.as_of, meta.sha256) == (dt.date(2025, 6, 30), DEMO_SHA256)


def test_carrier_ids_run_from_1_in_order(pool: list[Carrier]) -> None:
    assert [c.carrier_id for c in pool] == [f"car_{i:05d}" for i in range(1, 1848)]


def test_segments_market_types_and_status(pool: list[Carrier]) -> None:
    assert Counter(c.segment for c in pool) == {
        "regional": 751,
        "es": 433,
        "specialty": 280,
        "program": 204,
        "national": 179,
    }
    assert Counter(c.market_type for c in pool) == {"admitted": 1414, "surplus": 433}
    assert all((c.segment == "es") == (c.market_type == "surplus") for c in pool)
    assert Counter(c.status for c in pool) == {"active": 1826, "runoff": 21}


def test_ratings(pool: list[Carrier]) -> None:
    assert Counter(c.am_best_rating for c in pool) == {
        "A": 621,
        "A-": 592,
        "A+": 278,
        "B++": 169,
        "B+": 54,
        "A++": 43,
        "NR": 36,
        "B": 29,
        "B-": 12,
        "C++": 9,
        "E": 4,
    }


def test_lines_written(pool: list[Carrier]) -> None:
    assert Counter(line for c in pool for line in c.lines) == {
        "general_liability": 1501,
        "property": 1261,
        "umbrella": 1034,
        "bop": 1023,
        "professional_liability": 879,
        "commercial_auto": 845,
        "workers_comp": 737,
        "cyber": 716,
        "directors_officers": 565,
    }


def test_state_availability(pool: list[Carrier]) -> None:
    assert sum("CA" in c.states for c in pool) == 1024
    average = sum(len(c.states) for c in pool) / len(pool)
    assert round(average, 1) == 29.4


def test_data_age_buckets(pool: list[Carrier]) -> None:
    ages = [(DEMO_AS_OF - c.data_as_of).days for c in pool]
    assert sum(a <= 180 for a in ages) == 1306
    assert sum(181 <= a <= 365 for a in ages) == 360
    assert sum(a > 365 for a in ages) == 181
    assert min(ages) >= 0
    assert max(ages) <= 900


def test_null_counts(pool: list[Carrier]) -> None:
    assert sum(c.am_best_fsc is None for c in pool) == 76
    assert sum(c.complaint_index_x100 is None for c in pool) == 110
    assert sum(c.quote_turnaround_days is None for c in pool) == 42
    assert sum(c.naic_code is None for c in pool) == 99


def test_target_and_excluded_naics_overlap_as_documented(pool: list[Carrier]) -> None:
    both = [c for c in pool if "5311" in c.naics_target and "531110" in c.naics_excluded]
    assert len(both) == 29


def test_names_are_unique_and_fictional(pool: list[Carrier]) -> None:
    names = [c.name for c in pool]
    assert len(set(names)) == len(names)
    for name in names:
        assert not any(word.lower() in name.lower() for word in DENYLIST), name


def test_seed_example_carrier(pool: list[Carrier]) -> None:
    """The carrier DOMAIN.md's checks rank first for the seed profile."""
    c = pool[1204]
    assert (c.carrier_id, c.name) == ("car_01205", "Fablebridge Indemnity Company")
    assert (c.am_best_rating, c.am_best_fsc, c.complaint_index_x100) == ("A+", "XI", 13)


def test_records_respect_the_schema_invariants(pool: list[Carrier]) -> None:
    for c in pool:
        assert list(c.states) == sorted(set(c.states))
        assert c.domicile_state in c.states
        assert list(c.target_states) == sorted(set(c.target_states))
        assert set(c.target_states) <= set(c.states)
        assert c.lines
        assert list(c.lines) == [line for line in LINES if line in c.lines]
        assert list(c.naics_target) == sorted(c.naics_target)
        assert list(c.naics_excluded) == sorted(c.naics_excluded)
        assert c.min_revenue <= c.band_min < c.band_max <= c.max_revenue
        if c.am_best_rating in ("NR", "E", "F", "S"):
            assert c.am_best_fsc is None
        if c.am_best_rating == "NR":
            assert c.rating_outlook is None


def test_national_and_es_carriers_write_every_state(pool: list[Carrier]) -> None:
    for c in pool:
        if c.segment in ("national", "es"):
            assert c.states == STATES


def test_serialized_record_keys_follow_section_3(pool: list[Carrier]) -> None:
    first_line = serialize_jsonl(pool[:1]).decode()
    assert first_line.endswith("}\n")
    record = json.loads(first_line)
    assert tuple(record) == CARRIER_KEYS
    assert record == carrier_to_dict(pool[0])
    assert record["data_as_of"] == pool[0].data_as_of.isoformat()


def test_ampersand_is_not_escaped(pool: list[Carrier]) -> None:
    data = serialize_jsonl(pool)
    assert b"Fire & Casualty Company" in data
    assert b"\\u0026" not in data


def test_a_larger_pool_continues_the_same_sequence(pool: list[Carrier]) -> None:
    larger = generate_pool(1900)
    assert larger[:1847] == pool
    assert len({c.name for c in larger}) == 1900


def test_a_smaller_pool_is_a_prefix(pool: list[Carrier]) -> None:
    assert generate_pool(10) == pool[:10]


@pytest.mark.parametrize("size", [0, -1, MAX_SIZE + 1])
def test_sizes_outside_1_to_99999_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        generate_pool(size)


def test_primitives_follow_section_9() -> None:
    r = _Draws(7)
    digest = hashlib.sha256(b"nexio-pool-v1|7|rating").digest()
    h = int.from_bytes(digest[:8], "big")
    assert r.h(b"rating") == h
    assert r.u(b"rating", 97) == h % 97
    assert r.randint(b"rating", 3, 9) == 3 + h % 7


def test_name_fallback_only_once_the_name_space_is_used_up() -> None:
    """Step 22 has 6400 admitted and 3200 surplus names; past that a name gets 'No. i'."""
    assert NAME_CAPACITY == {"admitted": 6400, "surplus": 3200}
    book = _NameBook()
    book._taken["surplus"] = NAME_CAPACITY["surplus"]
    name = book.take(_Draws(12345), 12345, "surplus")
    assert name.endswith(" No. 12345")
    assert book.take(_Draws(5), 5, "admitted").count("No.") == 0
