"""`evaluate`'s fast path (the pool as columns, `verticals/carriers/columns.py`) gives exactly what
the per-carrier path gives: the same counts, stages and candidates, and candidates JSON
byte for byte as `orjson.dumps` writes the per-carrier path's candidates."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import attrs
import orjson
import pytest

from nexio_lite.verticals.carriers import columns
from nexio_lite.verticals.carriers.columns import build_columns
from nexio_lite.verticals.carriers.evaluate import Evaluation, evaluate
from nexio_lite.verticals.carriers.pool import demo_pool_meta, generate_pool
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.request import parse_profile
from nexio_lite.verticals.carriers.schema import LINES, STATES, Options, Profile

from .scoring_helpers import make_carrier, make_profile, pool_of


@pytest.fixture(scope="module")
def pool() -> PreparedPool:
    carriers = generate_pool(1847)
    prepared = prepare_pool(demo_pool_meta(carriers), carriers)
    assert prepared.columns is not None
    return prepared


def _per_carrier(pool: PreparedPool) -> PreparedPool:
    """The same pool without its columns: `evaluate` takes the per-carrier path."""
    return attrs.evolve(pool, buckets={}, counts={}, columns=None)


def _profiles(n: int, seed: int) -> list[Profile]:
    rng = random.Random(seed)
    optional: dict[str, list[Any]] = {
        "naics": ["54", "5415", "541110", "541511", "5413", "23", "238160", "621111", "5311"],
        "employees": [0, 10, 50, 51, 500, 1001],
        "years_in_business": [0, 1, 2, 3, 10],
        "loss_ratio": [0, 0.5, 0.65, 0.6501, 0.85, 1.2],
        "claims_3yr": [1, 2, 5, 11],
        "requested_limit": [100_000, 1_000_000, 2_000_000, 5_000_000, 10_000_001, 100_000_000],
        "effective_date": ["2000-01-01", "2025-06-30", "2025-07-01", "2025-07-03", "2099-12-31"],
        "admitted_only": [True, False],
        "min_am_best": ["A++", "A", "B++", "B+", "B", "D"],
    }
    out = []
    while len(out) < n:
        d: dict[str, Any] = {
            "entity": "e",
            "state": rng.choice(STATES),
            "line": rng.choice(LINES),
            "revenue": rng.choice([1, 250_000, 2_500_000, 12_000_000, 60_000_000, 10**10]),
        }
        for name, values in optional.items():
            if rng.random() < 0.4:
                d[name] = rng.choice(values)
        out.append(parse_profile(d))
    return out


def _same(fast: Evaluation, slow: Evaluation) -> None:
    assert fast.candidates_json == slow.candidates_json
    assert fast.candidates == slow.candidates
    assert orjson.dumps(fast.candidates) == fast.candidates_json
    assert (fast.pool_size, fast.filtered, fast.passed) == (
        slow.pool_size,
        slow.filtered,
        slow.passed,
    )
    assert [(s.name, s.count_in, s.count_out, s.extras) for s in fast.stages] == [
        (s.name, s.count_in, s.count_out, s.extras) for s in slow.stages
    ]


def test_fast_path_matches_the_per_carrier_path(pool: PreparedPool) -> None:
    slow_pool = _per_carrier(pool)
    options = (Options(), Options(limit=7), Options(as_of=dt.date(2024, 1, 31), limit=10_000))
    for i, profile in enumerate(_profiles(60, seed=12)):
        option = options[i % len(options)]
        _same(evaluate(pool, profile, option), evaluate(slow_pool, profile, option))


def test_json_escaping_and_non_ascii_names_match_orjson() -> None:
    carriers = [
        make_carrier(name='Quote " and \\ backslash Mutual'),
        make_carrier(name="Tab\tand\nnewline\x01 Casualty"),
        make_carrier(name="Zürich–Ünion 保険 \U0001f600 Re"),
        make_carrier(name="Plain Indemnity", rate_index=120),
    ]
    pool = pool_of(*carriers)
    assert pool.columns is not None
    for options in (Options(), Options(limit=1)):
        _same(
            evaluate(pool, make_profile(), options),
            evaluate(_per_carrier(pool), make_profile(), options),
        )


def test_candidates_rendered_in_several_blocks(
    pool: PreparedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`render_json` joins its candidates block by block; any block size gives the same
    JSON, the last block full or not."""
    slow_pool = _per_carrier(pool)
    profiles = _profiles(6, seed=5)
    for block in (1, 5, 7):
        monkeypatch.setattr(columns, "BLOCK", block)
        for limit in (None, 1, 5, 7, 36):
            for profile in profiles:
                option = Options(limit=limit)
                _same(evaluate(pool, profile, option), evaluate(slow_pool, profile, option))


def test_a_very_long_name_keeps_the_id_texts_as_objects() -> None:
    """One name far longer than the rest would make the fixed-width id array mostly
    padding: the texts stay bytes objects, with the same results."""
    short = [make_carrier(name=f"Short Mutual {i}", rate_index=80 + i) for i in range(8)]
    carriers = [*short[:4], make_carrier(name="Long " * 400 + "Indemnity"), *short[4:]]
    pool = pool_of(*carriers)
    assert pool.columns is not None
    assert pool.columns.texts.ids.dtype == object
    short_pool = pool_of(*short)
    assert short_pool.columns is not None
    assert short_pool.columns.texts.ids.dtype.kind == "S"
    for options in (Options(), Options(limit=2)):
        _same(
            evaluate(pool, make_profile(), options),
            evaluate(_per_carrier(pool), make_profile(), options),
        )


def test_values_outside_the_bounds_take_the_per_carrier_path() -> None:
    """A pool whose numbers could overflow int64 on the fast path gets no columns, and
    evaluates as before."""
    huge = make_carrier(rate_index=10**30, min_premium=10**40)
    pool = pool_of(huge, make_carrier())
    assert pool.columns is None
    assert build_columns(pool.facts) is None
    result = evaluate(pool, make_profile(), Options())
    assert result.passed == 2
    assert orjson.dumps(result.candidates) == result.candidates_json
    # Inside int64 but beyond the bounds that keep premium << 24 inside it.
    assert pool_of(make_carrier(rate_index=1_000_000)).columns is None
    assert pool_of(make_carrier(min_premium=1 << 40)).columns is None
    assert pool_of(make_carrier(max_limit=1 << 62)).columns is None


def test_empty_results_and_unknown_state(pool: PreparedPool) -> None:
    nobody = make_profile(state="ZZ")
    _same(evaluate(pool, nobody, Options()), evaluate(_per_carrier(pool), nobody, Options()))
    assert evaluate(pool, nobody, Options()).candidates_json == b"[]"
