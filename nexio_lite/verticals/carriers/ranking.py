"""Fit score, tier, confidence and ranking (DOMAIN.md §6), integers only.

`score_carrier` is the one place a passing carrier's six levels, fit, tier and
confidence are computed; `evaluate` and `build_trace` both call it. `rank` sorts by
the §6 key, a total order (name ties broken by carrier_id through the precomputed
`name_rank`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from operator import itemgetter
from typing import NamedTuple

from nexio_lite.verticals.carriers.context import ProfileContext
from nexio_lite.verticals.carriers.dimensions import (
    PRICING_RATIO_LEVELS,
    naics_target_hit,
    placement_level,
    points_level,
)
from nexio_lite.verticals.carriers.facts import NAME_RANK_BITS, CarrierFacts
from nexio_lite.verticals.carriers.schema import DIMENSIONS

WEIGHTS: tuple[int, ...] = (3, 2, 2, 2, 1, 1)  # in DIMENSIONS order
MAX_RAW = 3 * sum(WEIGHTS)  # 33
LEVEL_LABELS: tuple[str, ...] = ("", "L1", "L2", "L3", "L4")
TIERS: tuple[str, ...] = ("", "STRONG_FIT", "GOOD_FIT", "POSSIBLE_FIT", "WEAK_FIT")
# (rule, tier index, worst appetite level, max n4 or None, min fit); T4 catches the rest.
TIER_RULES: tuple[tuple[str, int, int, int | None, int], ...] = (
    ("T1", 1, 1, 0, 66),
    ("T2", 2, 2, 1, 50),
    ("T3", 3, 3, None, 33),
)
CONFIDENCE: tuple[str, ...] = ("HIGH", "MEDIUM", "LOW")
FRESH_DAYS, STALE_DAYS = 180, 365  # age <= 180 -> 2, <= 365 -> 1, else 0
VERIFICATION_MAX: tuple[int, int] = (1, 3)  # unverified <= 1 -> 2, <= 3 -> 1, else 0
CONFIDENCE_MIN: tuple[int, int] = (5, 3)  # total >= 5 HIGH, >= 3 MEDIUM, else LOW


def fit(levels: tuple[int, ...]) -> tuple[int, int]:
    """(raw, fit_score): raw = Σ w_d × (4 − level_d), fit = floor(raw × 100 / 33)."""
    raw = sum(w * (4 - level) for w, level in zip(WEIGHTS, levels, strict=True))
    return raw, raw * 100 // MAX_RAW


def tier(appetite: int, n4: int, fit_score: int) -> tuple[int, str]:
    """(tier index 1–4, rule "T1"–"T4"): the first §6 tier rule that matches."""
    for rule, index, worst_appetite, max_n4, min_fit in TIER_RULES:
        if appetite <= worst_appetite and (max_n4 is None or n4 <= max_n4) and fit_score >= min_fit:
            return index, rule
    return 4, "T4"


def freshness_points(age_days: int) -> int:
    """2 if the data is at most 180 days old, 1 if at most 365, else 0."""
    return 2 if age_days <= FRESH_DAYS else 1 if age_days <= STALE_DAYS else 0


def verification_points(unverified: int) -> int:
    """2 if at most 1 check is unverified, 1 if at most 3, else 0."""
    good, fair = VERIFICATION_MAX
    return 2 if unverified <= good else 1 if unverified <= fair else 0


def confidence(total: int) -> str:
    """HIGH if total >= 5, MEDIUM if 3–4, LOW if <= 2."""
    high, medium = CONFIDENCE_MIN
    return "HIGH" if total >= high else "MEDIUM" if total >= medium else "LOW"


class LevelInfo(NamedTuple):
    """What follows from the six levels alone: fit, n4, tier, the `scores` labels and
    `order`, an integer ordered like the (tier, −fit, appetite, financial) sort prefix."""

    levels: tuple[int, ...]
    raw: int
    fit_score: int
    n4: int
    tier: int
    tier_rule: str
    tier_name: str
    scores: dict[str, str]
    order: int


def level_info(levels: tuple[int, ...]) -> LevelInfo:
    """Fit, n4, tier and sort prefix of six levels (DIMENSIONS order)."""
    raw, fit_score = fit(levels)
    n4 = levels.count(4)
    tier_index, rule = tier(levels[0], n4, fit_score)
    labels = {d: LEVEL_LABELS[level] for d, level in zip(DIMENSIONS, levels, strict=True)}
    # 100 − fit is 0 … 100 (< 128); levels − 1 are 0 … 3: each field fits its slot.
    order = ((tier_index * 128 + (100 - fit_score)) * 4 + levels[0] - 1) * 4 + levels[2] - 1
    return LevelInfo(levels, raw, fit_score, n4, tier_index, rule, TIERS[tier_index], labels, order)


def level_index(levels: tuple[int, ...]) -> int:
    """Position of six levels (1 … 4 each) in `LEVEL_INFO`: base-4 digits."""
    index = 0
    for level in levels:
        index = index * 4 + level - 1
    return index


# Every combination of six levels (4^6 = 4096), indexed by `level_index`.
LEVEL_INFO: tuple[LevelInfo, ...] = tuple(
    level_info(levels) for levels in itertools.product(range(1, 5), repeat=6)
)
POINTS_LEVEL: tuple[int, ...] = tuple(points_level(p) for p in range(6))
VERIFICATION: tuple[int, ...] = tuple(verification_points(u) for u in range(13))
CONFIDENCE_BY_TOTAL: tuple[str, ...] = tuple(confidence(t) for t in range(7))
_P1, _P2, _P3 = PRICING_RATIO_LEVELS


class Scored(NamedTuple):
    """One passing carrier, scored. `info.levels` are in DIMENSIONS order (1 = L1).

    The §6 sort key is (`info.order`, `tail`): `tail` = premium, then name_rank."""

    order: int
    tail: int
    facts: CarrierFacts
    info: LevelInfo
    appetite_points: int
    coverage_points: int
    band: str
    rated: int
    premium: int
    ratio_pct: int
    min_premium_applies: bool
    freshness: int
    verification: int
    unverified: int
    confidence: str


_new_tuple = tuple.__new__


def score_carrier(ctx: ProfileContext, f: CarrierFacts) -> Scored:
    """Levels, fit, tier, confidence and sort key of a carrier that passed the filter.

    This is the hot loop of `evaluate`, so the §5 dimension rules are inlined here;
    `dimensions.reference_levels` computes the same levels from the small documented
    helpers, and the tests (and `build_trace`) check that both agree.
    """
    revenue = ctx.revenue
    if revenue < f.band_min:
        band, in_band = "below", 0
    elif revenue > f.band_max:
        band, in_band = "above", 0
    else:
        band, in_band = "in", 1
    app_pts = f.line_points[ctx.line] + ((f.target_bits & ctx.state_bit) != 0) + in_band
    if ctx.naics is not None and naics_target_hit(ctx, f):
        app_pts += 1
    limit, max_limit = ctx.requested_limit, f.max_limit
    cov_pts = f.breadth_points + (
        2 if max_limit >= 5 * limit else 1 if max_limit >= 2 * limit else 0
    )
    market = ctx.market
    rated = -(-market * f.rate_index // 100)
    min_premium = f.min_premium
    premium = min_premium if min_premium > rated else rated
    ratio = -(-premium * 100 // market)
    price = 1 if ratio <= _P1 else 2 if ratio <= _P2 else 3 if ratio <= _P3 else 4
    place = f.placement_base_level if ctx.effective_ord is None else placement_level(ctx, f)
    info = LEVEL_INFO[
        (POINTS_LEVEL[app_pts] - 1) * 1024
        + (POINTS_LEVEL[cov_pts] - 1) * 256
        + (f.financial_level - 1) * 64
        + (price - 1) * 16
        + (place - 1) * 4
        + (f.service_level - 1)
    ]
    age = ctx.as_of_ord - f.data_ord
    fresh = 2 if age <= FRESH_DAYS else 1 if age <= STALE_DAYS else 0
    unverified = (ctx.absent_bits & f.restrict_bits).bit_count()
    verif = VERIFICATION[unverified]
    return _new_tuple(
        Scored,
        (
            info.order,
            (premium << NAME_RANK_BITS) | f.name_rank,
            f,
            info,
            app_pts,
            cov_pts,
            band,
            rated,
            premium,
            ratio,
            min_premium > rated,
            fresh,
            verif,
            unverified,
            CONFIDENCE_BY_TOTAL[fresh + f.completeness_points + verif],
        ),
    )


def rank(scored: list[Scored]) -> list[Scored]:
    """Sort by (tier, −fit, appetite, financial, premium, name, carrier_id), a total
    order; rank = index + 1. Two stable integer sorts: by `tail`, then by `order`."""
    ranked = sorted(scored, key=_by_tail)
    ranked.sort(key=_by_order)
    return ranked


_by_order = itemgetter(0)
_by_tail = itemgetter(1)


def tier_counts(ranked: list[Scored]) -> dict[str, int]:
    """Candidates per tier, all four tiers listed (zeros included)."""
    found = Counter(s.info.tier_name for s in ranked)
    return {name: found[name] for name in TIERS[1:]}


def confidence_counts(ranked: list[Scored]) -> dict[str, int]:
    """Candidates per confidence value, HIGH, MEDIUM, LOW (zeros included)."""
    found = Counter(s.confidence for s in ranked)
    return {name: found[name] for name in CONFIDENCE}
