"""The audit trace (DOMAIN.md §8), recomputed on demand from the same inputs.

`build_trace` runs the very stage functions `evaluate` runs (filter, score, rank,
render), then explains every carrier with the shared rule table (`rules.FILTER_RULES`)
and the dimension helpers. It cross-checks the two views and raises `TraceMismatch`
if they ever disagree, so a trace never silently contradicts its result. The output
is plain JSON data (str, int, bool, None, list, dict).

`trace_parts` gives the same trace in two parts, the header and an iterator over the
`carriers` entries, so that a writer can serialize a 99,999-carrier trace (~210 MB of
JSON) a few entries at a time instead of holding every entry at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from nexio_lite.verticals.carriers.context import ProfileContext, make_context
from nexio_lite.verticals.carriers.dimensions import (
    BASE_RATE_CENTS,
    ILF_ABOVE_PCT,
    ILF_TABLE,
    MARKET_DIVISOR,
    PRICING_RATIO_LEVELS,
    lead_days,
    lead_time_penalty,
    limit_points,
    naics_target_hit,
    reference_levels,
)
from nexio_lite.verticals.carriers.evaluate import (
    filter_stage,
    render_candidates,
    resolve_as_of,
    score_stage,
)
from nexio_lite.verticals.carriers.facts import (
    BREADTH_POINTS,
    POINT_LEVELS,
    SERVICE_NULL_LEVEL,
    SERVICE_THRESHOLDS,
    CarrierFacts,
    financial_parts,
)
from nexio_lite.verticals.carriers.prepared import PreparedPool
from nexio_lite.verticals.carriers.ranking import (
    CONFIDENCE_MIN,
    FRESH_DAYS,
    LEVEL_LABELS,
    STALE_DAYS,
    TIER_RULES,
    TIERS,
    VERIFICATION_MAX,
    WEIGHTS,
    Scored,
    rank,
)
from nexio_lite.verticals.carriers.request import profile_to_dict
from nexio_lite.verticals.carriers.rules import FAIL, FILTER_RULES, UNVERIFIED, rule_outcome
from nexio_lite.verticals.carriers.schema import (
    AM_BEST_SCALE,
    DEFAULT_MIN_AM_BEST,
    DEFAULT_REQUESTED_LIMIT,
    DIMENSIONS,
    RULES_VERSION,
    VERTICAL_ID,
    Options,
    Profile,
)

LEVELS = ("full", "summary")


class TraceMismatch(RuntimeError):
    """The rule-by-rule explanation disagrees with the pipeline's result (a bug)."""


def trace_constants() -> dict[str, Any]:
    """The constants of `ci-rules-v1`, so that a trace explains itself."""
    return {
        "weights": dict(zip(DIMENSIONS, WEIGHTS, strict=True)),
        "max_raw": 3 * sum(WEIGHTS),
        "base_rates_cents_per_1000": dict(BASE_RATE_CENTS),
        "ilf_pct": [{"max_limit": bound, "pct": pct} for bound, pct in ILF_TABLE]
        + [{"max_limit": None, "pct": ILF_ABOVE_PCT}],
        "market_divisor": MARKET_DIVISOR,
        "tier_thresholds": {
            **{
                TIERS[index]: {
                    "rule": rule,
                    "appetite_max": LEVEL_LABELS[worst],
                    "n4_max": max_n4,
                    "fit_min": min_fit,
                }
                for rule, index, worst, max_n4, min_fit in TIER_RULES
            },
            TIERS[4]: {"rule": "T4", "appetite_max": None, "n4_max": None, "fit_min": 0},
        },
        "level_thresholds": {
            "points_min": dict(zip(("L1", "L2", "L3"), POINT_LEVELS, strict=True)),
            "points_dimensions": ["appetite", "coverage", "placement"],
            "pricing_ratio_pct_max": dict(
                zip(("L1", "L2", "L3"), PRICING_RATIO_LEVELS, strict=True)
            ),
            "service_complaint_index_x100_max": {
                LEVEL_LABELS[level]: bound for bound, level in SERVICE_THRESHOLDS
            },
            "service_null": LEVEL_LABELS[SERVICE_NULL_LEVEL],
            "breadth_points": dict(BREADTH_POINTS),
        },
        "confidence": {
            "freshness_days_max": {"2": FRESH_DAYS, "1": STALE_DAYS},
            "completeness_nulls": {"2": 0, "1": 1},
            "verification_unverified_max": dict(zip(("2", "1"), VERIFICATION_MAX, strict=True)),
            "total_min": dict(zip(("HIGH", "MEDIUM"), CONFIDENCE_MIN, strict=True)),
        },
        "am_best_scale": list(AM_BEST_SCALE),
        "defaults": {
            "requested_limit": DEFAULT_REQUESTED_LIMIT,
            "min_am_best": DEFAULT_MIN_AM_BEST,
            "admitted_only": False,
        },
    }


def trace_header(
    pool: PreparedPool,
    profile: Profile,
    ctx: ProfileContext,
    as_of_source: str,
    eval_id: str,
    created_at: str,
    stages: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The trace's head: the job, the rules, the pool, the date, the profile as validated
    with its defaults, the constants and the stage timings (also the console's)."""
    meta = pool.meta
    return {
        "eval_id": eval_id,
        "created_at": created_at,
        "vertical": {"id": VERTICAL_ID, "rules_version": RULES_VERSION},
        "pool": {
            "id": meta.pool_id,
            "generator": meta.generator,
            "size": meta.size,
            "as_of": meta.as_of.isoformat(),
            "sha256": meta.sha256,
        },
        "as_of": ctx.as_of.isoformat(),
        "as_of_source": as_of_source,
        "profile": profile_to_dict(profile),
        "defaults_applied": sorted(profile.defaults_applied),
        "constants": trace_constants(),
        "stages": list(stages),
    }


def build_trace(
    pool: PreparedPool,
    profile: Profile,
    options: Options,
    *,
    eval_id: str,
    created_at: str,
    stages: list[dict[str, Any]],
    level: str = "full",
) -> dict[str, Any]:
    """The §8 trace of `evaluate(pool, profile, options)`.

    `stages` are the stored stage dicts, used as given. `level="summary"` gives the
    header, stages and `candidates` (every passing carrier in the API shape, in rank
    order, not cut by `options.limit`); `"full"` gives the header, stages and
    `carriers` (every pool carrier in pool order, with all 12 rules). Deterministic
    in (pool, profile, options) apart from the eval_id, created_at and stages given.
    """
    trace, carriers = trace_parts(
        pool, profile, options, eval_id=eval_id, created_at=created_at, stages=stages, level=level
    )
    if carriers is not None:
        trace["carriers"] = list(carriers)
    return trace


def trace_parts(
    pool: PreparedPool,
    profile: Profile,
    options: Options,
    *,
    eval_id: str,
    created_at: str,
    stages: list[dict[str, Any]],
    level: str = "full",
) -> tuple[dict[str, Any], Iterator[dict[str, Any]] | None]:
    """`build_trace`'s trace as (everything but `carriers`, the `carriers` entries).

    For `"summary"` the second part is None (the first is the whole trace). For
    `"full"` it is an iterator that builds the entries one at a time, in pool order;
    it raises TraceMismatch, at the latest when exhausted, if they disagree with the
    filter stage. `build_trace` is exactly the first part plus `"carriers"`, a list of
    the second."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    as_of, source = resolve_as_of(pool, options)
    ctx = make_context(profile, as_of)
    passers, reasons = filter_stage(pool, ctx)
    ranked = rank(score_stage(ctx, passers))
    rendered = render_candidates(ctx, ranked, None)
    trace = trace_header(pool, profile, ctx, source, eval_id, created_at, stages)
    if level == "summary":
        trace["candidates"] = rendered
        return trace, None
    placed = {s.facts.index: (s, shown) for s, shown in zip(ranked, rendered, strict=True)}
    return trace, _checked_entries(ctx, pool, placed, reasons)


def _checked_entries(
    ctx: ProfileContext,
    pool: PreparedPool,
    placed: dict[int, tuple[Scored, dict[str, Any]]],
    reasons: dict[str, int],
) -> Iterator[dict[str, Any]]:
    """Every carrier's entry in pool order; at the end, TraceMismatch unless the
    rule-by-rule view matches the filter stage's counts."""
    counted = dict.fromkeys(reasons, 0)
    candidates = 0
    for f in pool.facts:
        entry = _carrier_entry(ctx, f, placed.get(f.index))
        if entry["primary_reason"] is not None:
            counted[entry["primary_reason"]] += 1
        if entry["outcome"] == "candidate":
            candidates += 1
        yield entry
    if counted != reasons or candidates != len(placed):
        raise TraceMismatch("rule outcomes disagree with the filter stage")


def _carrier_entry(
    ctx: ProfileContext, f: CarrierFacts, placed: tuple[Scored, dict[str, Any]] | None
) -> dict[str, Any]:
    """One `carriers` entry: outcome, primary reason and the 12 rules; candidates
    also get dimensions, fit, tier, confidence, rank and reasoning."""
    rules = []
    primary = None
    unverified = []
    for rule in FILTER_RULES:
        outcome = rule_outcome(rule, ctx, f)
        if outcome == FAIL and primary is None:
            primary = rule.code
        elif outcome == UNVERIFIED:
            unverified.append(rule.code)
        rules.append({"rule": rule.code, "outcome": outcome, "inputs": rule.inputs(ctx, f)})
    if (primary is None) != (placed is not None):
        raise TraceMismatch(f"{f.carrier_id}: rule outcomes disagree with the filter stage")
    entry: dict[str, Any] = {
        "carrier_id": f.carrier_id,
        "name": f.name,
        "outcome": "filtered" if placed is None else "candidate",
        "primary_reason": primary,
        "rules": rules,
    }
    if placed is not None:
        scored, shown = placed
        entry.update(_candidate_details(ctx, f, scored, shown, unverified))
    return entry


def _candidate_details(
    ctx: ProfileContext,
    f: CarrierFacts,
    s: Scored,
    shown: dict[str, Any],
    unverified: list[str],
) -> dict[str, Any]:
    if reference_levels(ctx, f) != s.info.levels or len(unverified) != s.unverified:
        raise TraceMismatch(f"{f.carrier_id}: dimension helpers disagree with scoring")
    info = s.info
    return {
        "dimensions": _dimensions(ctx, f, s),
        "fit": {"raw": info.raw, "score": info.fit_score},
        "tier": {"value": info.tier_name, "rule": info.tier_rule, "n4": info.n4},
        "confidence": {
            "value": s.confidence,
            "points": {
                "freshness": s.freshness,
                "completeness": f.completeness_points,
                "verification": s.verification,
            },
            "age_days": ctx.as_of_ord - f.data_ord,
            "null_fields": list(f.null_fields),
            "unverified": unverified,
        },
        "rank": shown["rank"],
        "reasoning": shown["reasoning"],
    }


def _dimensions(ctx: ProfileContext, f: CarrierFacts, s: Scored) -> dict[str, Any]:
    """`dimensions.{d}: {level, points|null, parts}` in DIMENSIONS order."""
    c = f.carrier
    labels = [LEVEL_LABELS[level] for level in s.info.levels]
    base, fsc_penalty, outlook_penalty = financial_parts(c)
    lead = lead_days(ctx)
    effective = ctx.profile.effective_date
    parts: list[tuple[int | None, dict[str, Any]]] = [
        (
            s.appetite_points,
            {
                "line_appetite": c.lines[ctx.line],
                "target_state": (f.target_bits & ctx.state_bit) != 0,
                "naics_target": None if ctx.naics is None else naics_target_hit(ctx, f),
                "band": s.band,
            },
        ),
        (
            s.coverage_points,
            {
                "requested_limit": ctx.requested_limit,
                "max_limit": f.max_limit,
                "limit_points": limit_points(ctx.requested_limit, f.max_limit),
                "breadth": c.coverage_breadth,
                "breadth_points": f.breadth_points,
            },
        ),
        (
            None,
            {
                "rating": c.am_best_rating,
                "fsc": c.am_best_fsc,
                "outlook": c.rating_outlook,
                "base": base,
                "fsc_penalty": fsc_penalty,
                "outlook_penalty": outlook_penalty,
            },
        ),
        (
            None,
            {
                "market": ctx.market,
                "rated": s.rated,
                "premium": s.premium,
                "ratio_pct": s.ratio_pct,
                "min_premium_applies": s.min_premium_applies,
                "ilf_pct": ctx.ilf_pct,
                "rate_cents": ctx.rate_cents,
            },
        ),
        (
            f.placement_points,
            {
                "binding_authority": c.binding_authority,
                "quote_turnaround_days": c.quote_turnaround_days,
                "access": c.access,
                "base_level": LEVEL_LABELS[f.placement_base_level],
                "effective_date": None if effective is None else effective.isoformat(),
                "lead_days": lead,
                "lead_time_penalty": lead_time_penalty(ctx, f),
            },
        ),
        (None, {"complaint_index_x100": c.complaint_index_x100}),
    ]
    return {
        d: {"level": label, "points": points, "parts": part}
        for d, label, (points, part) in zip(DIMENSIONS, labels, parts, strict=True)
    }
