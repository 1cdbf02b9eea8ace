"""The prepared pool's compact form gives exactly the evaluations and traces it gave before.

The digests below were taken from the pipeline before the pool was stored compactly
(shared values, state bit masks, index arrays); any change to a result or a trace of
these requests on the 10,000-carrier demo pool changes a digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from operator import attrgetter
from typing import Any

import attrs
import pytest

from nexio_lite.verticals.carriers.bulk import frozen_instances
from nexio_lite.verticals.carriers.carriers_io import parse_pool_file
from nexio_lite.verticals.carriers.evaluate import Evaluation, evaluate
from nexio_lite.verticals.carriers.facts import CarrierFacts, Shared, build_facts, field_columns
from nexio_lite.verticals.carriers.pool import demo_pool_meta, generate_pool, serialize_jsonl
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.request import parse_profile
from nexio_lite.verticals.carriers.schema import LINES, Carrier, Options
from nexio_lite.verticals.carriers.trace import build_trace

SIZE = 10_000

PROFILES: list[dict[str, Any]] = [
    {"entity": "acme", "state": "CA", "line": "professional_liability", "revenue": 12_000_000},
    {"entity": "bayside", "state": "FL", "line": "general_liability", "revenue": 2_400_000,
     "naics": "621210", "employees": 18, "years_in_business": 9},
    {"entity": "ridge", "state": "TX", "line": "commercial_auto", "revenue": 31_000_000,
     "naics": "484110", "loss_ratio": 0.62, "claims_3yr": 4, "requested_limit": 2_000_000},
    {"entity": "loop", "state": "IL", "line": "cyber", "revenue": 8_500_000,
     "naics": "541512", "admitted_only": True, "min_am_best": "A-"},
    {"entity": "granite", "state": "NY", "line": "workers_comp", "revenue": 64_000_000,
     "naics": "236220", "employees": 240, "effective_date": "2025-07-15"},
    {"entity": "tundra", "state": "WY", "line": "umbrella", "revenue": 1,
     "requested_limit": 25_000_000, "min_am_best": "D", "years_in_business": 0},
]  # fmt: skip
OPTIONS = (Options(), Options(as_of=dt.date(2024, 12, 1), limit=25))

# sha256 (first 16 hex digits) of each evaluation, in PROFILES x OPTIONS order.
EVALUATION_DIGESTS = [
    "164bf693d60f31f5",
    "2f4b186bb1840cd7",
    "2c9b429a5ea8f608",
    "08c453047bdcd727",
    "e3261f622d7c9535",
    "f5f5133f1fa24d12",
    "6e299e07d4513af4",
    "d026d39ffb8e4902",
    "cc9b08cf1dad82e7",
    "0c02ef4ecf90395d",
    "449944d41a37a09a",
    "ff2b16dc843cda68",
]
# sha256 (first 16 hex digits) of the full trace of PROFILES[0] and PROFILES[2].
TRACE_DIGESTS = ["9fd88b82a1c4b91c", "9c82e811597744f0"]


@pytest.fixture(scope="module")
def pool() -> PreparedPool:
    """The 10,000-carrier demo pool, read back from its JSONL file as a service does."""
    carriers = generate_pool(SIZE)
    meta = demo_pool_meta(carriers)
    return prepare_pool(meta, parse_pool_file(serialize_jsonl(carriers), "jsonl"))


def _digest(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _evaluation_digest(ev: Evaluation) -> str:
    stages = [(s.name, s.count_in, s.count_out, s.extras) for s in ev.stages]
    return _digest([ev.pool_size, ev.filtered, ev.passed, ev.candidates, ev.as_of,
                    ev.as_of_source, stages])  # fmt: skip


def test_evaluations_are_unchanged(pool: PreparedPool) -> None:
    digests = [
        _evaluation_digest(evaluate(pool, parse_profile(p), options))
        for p in PROFILES
        for options in OPTIONS
    ]
    assert digests == EVALUATION_DIGESTS


def test_full_traces_are_unchanged(pool: PreparedPool) -> None:
    digests = []
    for i in (0, 2):
        profile = parse_profile(PROFILES[i])
        trace = build_trace(pool, profile, Options(), eval_id="eval_x", created_at="c", stages=[])
        digests.append(_digest(trace))
    assert digests == TRACE_DIGESTS


def test_line_state_buckets_match_a_plain_pass(pool: PreparedPool) -> None:
    """The (line, state) index lists the indices of exactly the F01–F03 survivors, in
    pool order, and counts the others by their first failing rule; a state outside the
    index takes the slow path and agrees with it."""
    for line in LINES:
        writers = [f for f in pool.facts if f.active and line in f.line_points]
        for state in ("AK", "CA", "DC", "NY", "TX", "WY", "ZZ"):
            kept = [f.index for f in writers if state in f.carrier.states]
            assert list(pool.bucket(line, state)) == kept
            inactive = sum(not f.active for f in pool.facts)
            assert pool.early_counts(line, state) == (
                inactive,
                SIZE - inactive - len(writers),
                len(writers) - len(kept),
            )
    assert all(f.index == i for i, f in enumerate(pool.facts))


# --- the pool's facts, made a fact at a time ------------------------------------------------


def _reference_facts(carriers: list[Carrier]) -> tuple[CarrierFacts, ...]:
    """`build_facts` carrier by carrier, with one memo: what `prepare_pool` made before."""
    ordered = sorted(carriers, key=attrgetter("carrier_id"))
    by_name = sorted(range(len(ordered)), key=lambda i: (ordered[i].name, ordered[i].carrier_id))
    ranks = {i: rank for rank, i in enumerate(by_name)}
    shared = Shared()
    return tuple(build_facts(i, c, ranks[i], shared) for i, c in enumerate(ordered))


def _odd_carriers() -> list[Carrier]:
    """Carriers made by hand: repeated names, every null, lists where tuples belong, and
    out of carrier_id order."""
    base = generate_pool(40)
    odd = [
        attrs.evolve(base[3], name=base[1].name, naic_code=None, am_best_fsc=None,
                     rating_outlook=None, quote_turnaround_days=None, complaint_index_x100=None,
                     max_loss_ratio_pct=None, max_claims_3yr=None, max_employees=None),
        attrs.evolve(base[5], naics_excluded=["5411"], naics_target=[],
                     states=list(base[5].states)),
        attrs.evolve(base[7], carrier_id="car_00000", min_years_in_business=0,
                     am_best_rating="NR", am_best_fsc=None, rating_outlook=None),
        attrs.evolve(base[9], status="runoff", data_as_of="2024-01-31"),
    ]  # fmt: skip
    return [*reversed(base[10:]), *odd, *base[:3]]


@pytest.mark.parametrize("source", ["parsed", "generated", "odd"])
def test_pool_facts_are_the_per_carrier_facts(pool: PreparedPool, source: str) -> None:
    carriers = {
        "parsed": lambda: [f.carrier for f in pool.facts],
        "generated": lambda: generate_pool(3_000),
        "odd": _odd_carriers,
    }[source]()
    meta = demo_pool_meta(generate_pool(1))
    assert prepare_pool(meta, carriers).facts == _reference_facts(carriers)


def test_field_columns_of_carriers_out_of_order_are_put_in_order() -> None:
    """`prepare_pool` sorts the carriers and their `fields` alike."""
    carriers = generate_pool(2_000)
    shuffled = carriers[:]
    random.Random(5).shuffle(shuffled)
    meta = demo_pool_meta(carriers)
    prepared = prepare_pool(meta, shuffled, field_columns(shuffled))
    assert prepared.facts == prepare_pool(meta, carriers).facts
    assert prepared.facts == _reference_facts(carriers)


def test_frozen_instances_are_the_instances_init_makes() -> None:
    carriers = generate_pool(50)
    columns = {a.name: [getattr(c, a.name) for c in carriers] for a in attrs.fields(Carrier)}
    made = frozen_instances(Carrier, len(carriers), columns)
    assert made == carriers
    assert all(type(c) is Carrier for c in made)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made[0].name = "x"  # type: ignore[misc]


def test_frozen_instances_refuse_what_init_would_do_more_of() -> None:
    @attrs.frozen(slots=True)
    class WithDefault:
        a: int = 0

    @attrs.frozen(slots=True)
    class WithValidator:
        a: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen(slots=True)
    class WithPostInit:
        a: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen(slots=False)
    class WithoutSlots:
        a: int

    for cls in (WithDefault, WithValidator, WithPostInit, WithoutSlots):
        with pytest.raises(TypeError):
            frozen_instances(cls, 1, {"a": [1]})
    with pytest.raises(ValueError, match="one column"):
        frozen_instances(Carrier, 2, {"carrier_id": ["car_00001"]})
