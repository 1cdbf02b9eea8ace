"""The six dimensions (DOMAIN.md §5) for one carrier and one profile context.

Every function here is integer-only and shared by `evaluate` and `build_trace`, so
the result and its audit trace cannot disagree. Static parts of each dimension
(financial, service, placement points, breadth) come precomputed in `CarrierFacts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexio_lite.verticals.carriers.facts import POINT_LEVELS, lvl

if TYPE_CHECKING:
    from nexio_lite.verticals.carriers.context import ProfileContext
    from nexio_lite.verticals.carriers.facts import CarrierFacts

# Pricing (DOMAIN.md §5.4): base rates in cents per $1,000 revenue.
BASE_RATE_CENTS: dict[str, int] = {
    "general_liability": 150,
    "professional_liability": 120,
    "directors_officers": 60,
    "cyber": 80,
    "workers_comp": 300,
    "commercial_auto": 100,
    "property": 90,
    "bop": 110,
    "umbrella": 40,
}
# Increased-limit factor in percent: (requested limit upper bound inclusive, ILF%).
ILF_TABLE: tuple[tuple[int, int], ...] = (
    (500_000, 80),
    (1_000_000, 100),
    (2_000_000, 140),
    (3_000_000, 170),
    (5_000_000, 210),
    (10_000_000, 280),
)
ILF_ABOVE_PCT = 350
# revenue [$] x rate [cents per $1,000] x ILF [%] / (1,000 x 100 cents x 100 %).
MARKET_DIVISOR = 10_000_000
# Pricing level by premium/market ratio in percent: L1 <= 90, L2 <= 100, L3 <= 115.
PRICING_RATIO_LEVELS: tuple[int, int, int] = (90, 100, 115)
# Coverage limit points: +2 if max_limit >= 5R, else +1 if >= 2R.
LIMIT_MULTIPLES: tuple[tuple[int, int], ...] = ((5, 2), (2, 1))


def ceil_div(a: int, b: int) -> int:
    """Ceiling of a / b for a >= 0, b > 0, in integers."""
    return -(-a // b)


def ilf_pct(limit: int) -> int:
    """The increased-limit factor (percent) for a requested limit."""
    for bound, pct in ILF_TABLE:
        if limit <= bound:
            return pct
    return ILF_ABOVE_PCT


def market_premium(revenue: int, rate_cents: int, ilf: int) -> int:
    """`ceil_div(revenue x rate_cents x ILF%, 10,000,000)`: $12M PL at $1M -> 14,400."""
    return ceil_div(revenue * rate_cents * ilf, MARKET_DIVISOR)


def pricing_level(ratio_pct: int) -> int:
    """L1 if ratio <= 90, L2 if <= 100, L3 if <= 115, L4 otherwise."""
    for level, bound in enumerate(PRICING_RATIO_LEVELS, start=1):
        if ratio_pct <= bound:
            return level
    return 4


def pricing(market: int, f: CarrierFacts) -> tuple[int, int, int, int, bool]:
    """(rated, premium, ratio_pct, level, min_premium_applies) for one carrier."""
    rated = -(-market * f.rate_index // 100)
    min_premium = f.min_premium
    premium = min_premium if min_premium > rated else rated
    ratio = -(-premium * 100 // market)
    return rated, premium, ratio, pricing_level(ratio), min_premium > rated


def naics_target_hit(ctx: ProfileContext, f: CarrierFacts) -> bool:
    """True when the profile's NAICS starts with one of the carrier's target prefixes."""
    return bool(f.naics_target) and not ctx.naics_prefixes.isdisjoint(f.naics_target)


def band_position(revenue: int, f: CarrierFacts) -> str:
    """`in` if band_min <= revenue <= band_max, else `below` or `above`."""
    if revenue < f.band_min:
        return "below"
    if revenue > f.band_max:
        return "above"
    return "in"


def appetite_points(ctx: ProfileContext, f: CarrierFacts, band: str) -> int:
    """Line appetite (2/1/0) + target state + NAICS target + in-band revenue."""
    return (
        f.line_points[ctx.line]
        + ((f.target_bits & ctx.state_bit) != 0)
        + (ctx.naics is not None and naics_target_hit(ctx, f))
        + (band == "in")
    )


def limit_points(requested_limit: int, max_limit: int) -> int:
    """+2 if max_limit >= 5R, +1 if >= 2R, else 0."""
    for multiple, points in LIMIT_MULTIPLES:
        if max_limit >= multiple * requested_limit:
            return points
    return 0


def coverage_points(ctx: ProfileContext, f: CarrierFacts) -> int:
    """Limit points + breadth points (0 … 4)."""
    return limit_points(ctx.requested_limit, f.max_limit) + f.breadth_points


def lead_days(ctx: ProfileContext) -> int | None:
    """(effective_date − as_of).days, or None when effective_date is absent."""
    if ctx.effective_ord is None:
        return None
    return ctx.effective_ord - ctx.as_of_ord


def lead_time_penalty(ctx: ProfileContext, f: CarrierFacts) -> bool:
    """True when effective_date is given and the quote may not arrive in time
    (turnaround unknown, or lead days < turnaround, in calendar days)."""
    lead = lead_days(ctx)
    if lead is None:
        return False
    return f.turnaround is None or lead < f.turnaround


def placement_level(ctx: ProfileContext, f: CarrierFacts) -> int:
    """lvl(points; 4, 3, 2), one step worse (cap L4) under a lead-time penalty."""
    level = f.placement_base_level
    if ctx.effective_ord is not None and lead_time_penalty(ctx, f) and level < 4:
        level += 1
    return level


def points_level(points: int) -> int:
    """lvl(points; 4, 3, 2) for appetite, coverage and placement."""
    return lvl(points, *POINT_LEVELS)


def reference_levels(ctx: ProfileContext, f: CarrierFacts) -> tuple[int, ...]:
    """The six levels (DIMENSIONS order) composed from the helpers above, one per §5
    rule. `ranking.score_carrier` inlines the same rules; the two must agree."""
    band = band_position(ctx.revenue, f)
    return (
        points_level(appetite_points(ctx, f, band)),
        points_level(coverage_points(ctx, f)),
        f.financial_level,
        pricing(ctx.market, f)[3],
        placement_level(ctx, f),
        f.service_level,
    )
