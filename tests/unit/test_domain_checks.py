"""DOMAIN.md's checks on the demo pool, and evaluate/build_trace agreement.

The demo pool (`generate_pool(1847)`, as_of 2025-06-30) is built once per module."""

from __future__ import annotations

import datetime as dt
import json
import random
from itertools import count
from typing import Any

import pytest

from nexio_lite.verticals.carriers.context import make_context
from nexio_lite.verticals.carriers.dimensions import reference_levels
from nexio_lite.verticals.carriers.evaluate import evaluate, filter_stage, score_stage
from nexio_lite.verticals.carriers.pool import demo_pool_meta, generate_pool
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.ranking import rank
from nexio_lite.verticals.carriers.reasoning import format_band, reasoning_sentence
from nexio_lite.verticals.carriers.request import parse_profile
from nexio_lite.verticals.carriers.rules import FAIL, FILTER_RULES, RULE_CODES, rule_outcome
from nexio_lite.verticals.carriers.schema import LINES, STATES, Options, Profile
from nexio_lite.verticals.carriers.trace import build_trace

SEED = {
    "entity": "acme-manufacturing",
    "state": "CA",
    "line": "professional_liability",
    "revenue": 12_000_000,
}
SEED_REASONING = (
    "Strong CA prof. liability appetite, $10–15M band; AM Best A+ (XI); est. premium $12,528 "
    "(below market); delegated authority, 2-day quote, via wholesaler; low complaint index 0.13."
)
STAGES = [{"name": "validate", "started_at": "t", "duration_ms": 0, "in": 1, "out": 1}]


@pytest.fixture(scope="module")
def pool() -> PreparedPool:
    carriers = generate_pool(1847)
    return prepare_pool(demo_pool_meta(carriers), carriers)


def _profiles(n: int, seed: int) -> list[Profile]:
    """`n` varied valid profiles, the seed's first (deterministic)."""
    rng = random.Random(seed)
    out = [parse_profile(SEED)]
    optional: dict[str, list[Any]] = {
        "naics": ["54", "5415", "541110", "541511", "5413", "23", "238160", "621111", "5311"],
        "employees": [0, 10, 50, 51, 500, 1001],
        "years_in_business": [0, 1, 2, 3, 10],
        "loss_ratio": [0, 0.5, 0.65, 0.6501, 0.85, 1.2],
        "claims_3yr": [1, 2, 5, 11],
        "requested_limit": [500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_001, 25_000_000],
        "effective_date": ["2025-06-30", "2025-07-01", "2025-07-03", "2025-08-30"],
        "admitted_only": [True, False],
        "min_am_best": ["A++", "A", "B++", "B+", "B", "D"],
    }
    while len(out) < n:
        d: dict[str, Any] = {
            "entity": "e",
            "state": rng.choice(STATES),
            "line": rng.choice(LINES),
            "revenue": rng.choice([1, 250_000, 2_500_000, 12_000_000, 60_000_000, 10**9]),
        }
        for name, values in optional.items():
            if rng.random() < 0.35:
                d[name] = rng.choice(values)
        out.append(parse_profile(d))
    return out


def _trace(pool: PreparedPool, profile: Profile, options: Options, **kw: Any) -> dict[str, Any]:
    return build_trace(
        pool, profile, options, eval_id="eval_test", created_at="c", stages=STAGES, **kw
    )


# --- the seed check --------------------------------------------------------------


def test_seed_profile_ranks_car_01205_first(pool: PreparedPool) -> None:
    result = evaluate(pool, parse_profile(SEED), Options())
    assert result.candidates[0] == {
        "rank": 1,
        "carrier_id": "car_01205",
        "name": "Fablebridge Indemnity Company",
        "tier": "STRONG_FIT",
        "confidence": "MEDIUM",
        "fit_score": 90,
        "scores": {
            "appetite": "L1",
            "coverage": "L2",
            "financial": "L1",
            "pricing": "L1",
            "placement": "L2",
            "service": "L1",
        },
        "reasoning": SEED_REASONING,
    }
    # DOMAIN.md §7's example counts.
    assert (result.pool_size, result.filtered, result.passed) == (1847, 1269, 578)


def test_seed_trace_explains_car_01205(pool: PreparedPool) -> None:
    trace = _trace(pool, parse_profile(SEED), Options())
    entry = next(c for c in trace["carriers"] if c["carrier_id"] == "car_01205")
    assert entry["dimensions"]["pricing"]["parts"]["market"] == 14_400
    assert entry["dimensions"]["pricing"]["parts"]["premium"] == 12_528
    assert entry["fit"] == {"raw": 30, "score": 90}
    assert entry["tier"] == {"value": "STRONG_FIT", "rule": "T1", "n4": 0}
    assert entry["confidence"]["points"] == {"freshness": 1, "completeness": 2, "verification": 0}
    assert entry["confidence"]["age_days"] == 259
    assert len(entry["confidence"]["unverified"]) == 4


def test_pool_size_is_filtered_plus_passed(pool: PreparedPool) -> None:
    for profile in _profiles(40, seed=1):
        result = evaluate(pool, profile, Options())
        assert result.pool_size == result.filtered + result.passed == 1847
        assert len(result.candidates) == result.passed


# --- options ---------------------------------------------------------------------


def test_limit_cuts_candidates_but_passed_counts_all(pool: PreparedPool) -> None:
    profile = parse_profile(SEED)
    full = evaluate(pool, profile, Options())
    cut = evaluate(pool, profile, Options(limit=5))
    assert cut.candidates == full.candidates[:5]
    assert (cut.passed, cut.filtered) == (full.passed, full.filtered)
    assert cut.stages[-1].count_out == 5
    assert evaluate(pool, profile, Options(limit=10_000)).candidates == full.candidates


def test_options_as_of_changes_freshness(pool: PreparedPool) -> None:
    profile = parse_profile(SEED)
    base = evaluate(pool, profile, Options())
    assert (base.as_of, base.as_of_source) == (dt.date(2025, 6, 30), "pool")
    early = evaluate(pool, profile, Options(as_of=dt.date(2024, 12, 1)))  # 48 days old
    late = evaluate(pool, profile, Options(as_of=dt.date(2026, 6, 30)))  # 624 days old
    assert early.as_of_source == "options"

    def confidence(result: Any) -> str:
        return next(c for c in result.candidates if c["carrier_id"] == "car_01205")["confidence"]

    assert (confidence(base), confidence(early), confidence(late)) == ("MEDIUM", "MEDIUM", "LOW")
    trace = _trace(pool, profile, Options(as_of=dt.date(2024, 12, 1)), level="full")
    entry = next(c for c in trace["carriers"] if c["carrier_id"] == "car_01205")
    assert (trace["as_of"], trace["as_of_source"]) == ("2024-12-01", "options")
    assert entry["confidence"]["age_days"] == 48
    assert entry["confidence"]["points"]["freshness"] == 2
    counts = [e.stages[2].extras["confidence_counts"] for e in (early, base, late)]
    assert counts[0] != counts[1] != counts[2]


# --- determinism and stages ------------------------------------------------------


def test_two_runs_give_identical_results_and_traces(pool: PreparedPool) -> None:
    profile = _profiles(3, seed=2)[2]
    assert evaluate(pool, profile, Options()) == evaluate(pool, profile, Options())
    first = json.dumps(_trace(pool, profile, Options()), ensure_ascii=False)
    assert first == json.dumps(_trace(pool, profile, Options()), ensure_ascii=False)


def test_stage_records(pool: PreparedPool) -> None:
    ticks = count(start=1_000, step=1_000)
    result = evaluate(pool, parse_profile(SEED), Options(limit=3), clock=lambda: next(ticks))
    names = [s.name for s in result.stages]
    assert names == ["filter", "score", "rank", "render"]
    assert [(s.start_ns, s.duration_ns) for s in result.stages] == [
        (1_000, 1_000),
        (2_000, 1_000),
        (3_000, 1_000),
        (4_000, 1_000),
    ]
    assert [(s.count_in, s.count_out) for s in result.stages] == [
        (1847, 578),
        (578, 578),
        (578, 578),
        (578, 3),
    ]
    filter_extras = result.stages[0].extras
    assert list(filter_extras["primary_reason_counts"]) == list(RULE_CODES)
    assert sum(filter_extras["primary_reason_counts"].values()) == filter_extras["removed"] == 1269
    rank_extras = result.stages[2].extras
    assert list(rank_extras["tier_counts"]) == [
        "STRONG_FIT",
        "GOOD_FIT",
        "POSSIBLE_FIT",
        "WEAK_FIT",
    ]
    assert list(rank_extras["confidence_counts"]) == ["HIGH", "MEDIUM", "LOW"]
    assert sum(rank_extras["tier_counts"].values()) == 578
    untimed = evaluate(pool, parse_profile(SEED), Options())
    assert all(s.start_ns == s.duration_ns == 0 for s in untimed.stages)
    stored = result.stages[0].to_dict("2025-06-30T00:00:00.000Z")
    assert list(stored) == [
        "name", "started_at", "duration_ms", "in", "out", "removed", "primary_reason_counts"
    ]  # fmt: skip
    assert (stored["duration_ms"], stored["in"], stored["out"]) == (0.001, 1847, 578)


# --- one rule code, two views: they must agree -----------------------------------


def test_index_filter_scoring_and_ranking_match_the_reference(pool: PreparedPool) -> None:
    """The (line, state) index, the inlined scoring and the two-pass sort agree with a
    plain rule-by-rule pass over every carrier and the §6 sort key written out."""
    for profile in _profiles(30, seed=3):
        ctx = make_context(profile, pool.meta.as_of)
        reasons = dict.fromkeys(RULE_CODES, 0)
        expected = []
        for f in pool.facts:
            outcomes = [rule_outcome(rule, ctx, f) for rule in FILTER_RULES]
            if FAIL in outcomes:
                reasons[RULE_CODES[outcomes.index(FAIL)]] += 1
            else:
                expected.append(f)
        passers, counted = filter_stage(pool, ctx)
        assert counted == reasons
        assert passers == expected
        scored = score_stage(ctx, passers)
        for s in scored:
            assert s.info.levels == reference_levels(ctx, s.facts)
        ranked = rank(scored)
        key = [
            (s.info.tier, -s.info.fit_score, s.info.levels[0], s.info.levels[2], s.premium,
             s.facts.name, s.facts.carrier_id)
            for s in ranked
        ]  # fmt: skip
        assert key == sorted(key)


def test_rendered_reasoning_matches_the_reference_sentence(pool: PreparedPool) -> None:
    for profile in _profiles(12, seed=4):
        ctx = make_context(profile, pool.meta.as_of)
        ranked = rank(score_stage(ctx, filter_stage(pool, ctx)[0]))
        rendered = evaluate(pool, profile, Options()).candidates
        for s, shown in zip(ranked, rendered, strict=True):
            c = s.facts.carrier
            assert format_band(c.band_min, c.band_max) in shown["reasoning"]
            assert shown["reasoning"] == reasoning_sentence(
                appetite_level=s.info.levels[0],
                state=profile.state,
                line=profile.line,
                band_position=s.band,
                band_min=c.band_min,
                band_max=c.band_max,
                rating=c.am_best_rating,
                fsc=c.am_best_fsc,
                outlook=c.rating_outlook,
                premium=s.premium,
                pricing_level=s.info.levels[3],
                min_premium_applies=s.min_premium_applies,
                binding=c.binding_authority,
                turnaround=c.quote_turnaround_days,
                access=c.access,
                market_type=c.market_type,
                service_level=s.info.levels[5],
                ci_x100=c.complaint_index_x100,
            )


def test_evaluate_and_build_trace_agree(pool: PreparedPool) -> None:
    for profile in _profiles(8, seed=5):
        result = evaluate(pool, profile, Options())
        trace = _trace(pool, profile, Options())
        carriers = trace["carriers"]
        assert [c["carrier_id"] for c in carriers] == [f.carrier_id for f in pool.facts]
        assert all(len(c["rules"]) == 12 for c in carriers)
        filtered = [c for c in carriers if c["outcome"] == "filtered"]
        assert len(filtered) == result.filtered
        reasons = dict.fromkeys(RULE_CODES, 0)
        for c in filtered:
            reasons[c["primary_reason"]] += 1
        assert reasons == result.stages[0].extras["primary_reason_counts"]
        ranked = sorted(
            (c for c in carriers if c["outcome"] == "candidate"), key=lambda c: c["rank"]
        )
        assert [
            {
                "rank": c["rank"],
                "carrier_id": c["carrier_id"],
                "name": c["name"],
                "tier": c["tier"]["value"],
                "confidence": c["confidence"]["value"],
                "fit_score": c["fit"]["score"],
                "scores": {d: v["level"] for d, v in c["dimensions"].items()},
                "reasoning": c["reasoning"],
            }
            for c in ranked
        ] == result.candidates
        summary = _trace(pool, profile, Options(), level="summary")
        assert summary["candidates"] == result.candidates
        assert json.loads(json.dumps(trace)) == trace  # plain JSON data


def test_trace_header_and_summary_shape(pool: PreparedPool) -> None:
    trace = _trace(pool, parse_profile(SEED), Options())
    assert list(trace) == [
        "eval_id",
        "created_at",
        "vertical",
        "pool",
        "as_of",
        "as_of_source",
        "profile",
        "defaults_applied",
        "constants",
        "stages",
        "carriers",
    ]
    assert trace["vertical"] == {"id": "commercial_insurance", "rules_version": "ci-rules-v1"}
    assert trace["pool"] == {
        "id": "carriers:all",
        "generator": "nexio-pool-v1",
        "size": 1847,
        "as_of": "2025-06-30",
        "sha256": "7c4618a074fc7dc553368138bf46b4e38f7ad7e6e9c057438b40b8d6865bd94f",
    }
    assert (trace["as_of"], trace["as_of_source"]) == ("2025-06-30", "pool")
    assert trace["defaults_applied"] == ["admitted_only", "min_am_best", "requested_limit"]
    assert trace["stages"] == STAGES
    assert trace["constants"]["weights"]["appetite"] == 3
    filtered = next(c for c in trace["carriers"] if c["outcome"] == "filtered")
    assert set(filtered) == {"carrier_id", "name", "outcome", "primary_reason", "rules"}
    summary = _trace(pool, parse_profile(SEED), Options(), level="summary")
    assert list(summary)[-1] == "candidates"
    assert "carriers" not in summary
    with pytest.raises(ValueError, match="level"):
        _trace(pool, parse_profile(SEED), Options(), level="verbose")
