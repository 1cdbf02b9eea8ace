"""The six dimensions (DOMAIN.md §5): every level threshold on both sides.

Each case checks the hot-loop `score_carrier` and the helper-built
`reference_levels` against the same hand-computed level."""

from __future__ import annotations

import datetime as dt

import pytest

from nexio_lite.verticals.carriers.dimensions import (
    ilf_pct,
    limit_points,
    market_premium,
    pricing,
    reference_levels,
)
from nexio_lite.verticals.carriers.facts import financial_parts, roman_to_int
from nexio_lite.verticals.carriers.schema import Carrier, Profile

from .scoring_helpers import AS_OF, context, facts, make_carrier, make_profile, score

APPETITE, COVERAGE, FINANCIAL, PRICING, PLACEMENT, SERVICE = range(6)


def level(dimension: int, carrier: Carrier, profile: Profile | None = None) -> int:
    """The level of one dimension, asserting both implementations agree."""
    scored = score(carrier, profile)
    assert reference_levels(context(profile), facts(carrier)) == scored.info.levels
    return scored.info.levels[dimension]


# --- appetite --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "profile_fields", "points", "expected"),
    [
        ({}, {"naics": "541511"}, 4, 1),  # no naics target: still 4 points
        ({"naics_target": ("5415",)}, {"naics": "541511"}, 5, 1),
        ({}, {}, 4, 1),  # target line + target state + in band
        ({"lines": {"professional_liability": "standard"}}, {}, 3, 2),
        ({"target_states": ()}, {}, 3, 2),
        ({"lines": {"professional_liability": "limited"}}, {}, 2, 3),
        ({"lines": {"professional_liability": "limited"}, "target_states": ()}, {}, 1, 4),
        (
            {"lines": {"professional_liability": "limited"}, "target_states": ()},
            {"revenue": 20_000_000},
            0,
            4,
        ),
    ],
)
def test_appetite_points_and_levels(
    fields: dict[str, object], profile_fields: dict[str, object], points: int, expected: int
) -> None:
    carrier, profile = make_carrier(**fields), make_profile(**profile_fields)
    assert score(carrier, profile).appetite_points == points
    assert level(APPETITE, carrier, profile) == expected


@pytest.mark.parametrize(
    ("naics", "targets", "hit"),
    [
        ("541511", ("5415",), True),
        ("5415", ("5415",), True),
        ("54", ("5415",), False),  # profile "54" does not match carrier prefix "5415"
        ("541611", ("5415", "5416"), True),
        ("621111", ("5415",), False),
    ],
)
def test_appetite_naics_target_is_a_prefix_match(
    naics: str, targets: tuple[str, ...], hit: bool
) -> None:
    carrier = make_carrier(naics_target=targets)
    assert score(carrier, make_profile(naics=naics)).appetite_points == 4 + hit


@pytest.mark.parametrize(
    ("revenue", "band"),
    [
        (9_999_999, "below"),
        (10_000_000, "in"),
        (15_000_000, "in"),
        (15_000_001, "above"),
    ],
)
def test_appetite_band_bounds_are_inclusive(revenue: int, band: str) -> None:
    scored = score(make_carrier(), make_profile(revenue=revenue))
    assert scored.band == band
    assert scored.appetite_points == (4 if band == "in" else 3)


# --- coverage --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_limit", "requested", "points"),
    [
        (5_000_000, 1_000_000, 2),  # exactly 5R
        (4_999_999, 1_000_000, 1),
        (2_000_000, 1_000_000, 1),  # exactly 2R
        (1_999_999, 1_000_000, 0),
        (25_000_000, 5_000_000, 2),
        (24_999_999, 5_000_000, 1),
    ],
)
def test_coverage_limit_points(max_limit: int, requested: int, points: int) -> None:
    assert limit_points(requested, max_limit) == points


@pytest.mark.parametrize(
    ("max_limit", "breadth", "expected"),
    [
        (5_000_000, "broad", 1),  # 2 + 2 = 4
        (5_000_000, "standard", 2),  # 2 + 1 = 3
        (2_000_000, "broad", 2),  # 1 + 2 = 3
        (5_000_000, "restricted", 3),  # 2 + 0 = 2
        (2_000_000, "standard", 3),  # 1 + 1 = 2
        (1_999_999, "broad", 3),  # 0 + 2 = 2
        (2_000_000, "restricted", 4),  # 1 + 0 = 1
        (1_000_000, "standard", 4),  # 0 + 1 = 1
        (1_000_000, "restricted", 4),  # 0
    ],
)
def test_coverage_levels(max_limit: int, breadth: str, expected: int) -> None:
    carrier = make_carrier(max_limit=max_limit, coverage_breadth=breadth)
    assert level(COVERAGE, carrier) == expected


def test_coverage_uses_the_requested_limit_after_default() -> None:
    carrier = make_carrier(max_limit=10_000_000, coverage_breadth="restricted")
    assert level(COVERAGE, carrier) == 3  # R = 1M default: 10M >= 5R
    assert level(COVERAGE, carrier, make_profile(requested_limit=2_000_001)) == 4


# --- financial -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("I", 1), ("IV", 4), ("VI", 6), ("VII", 7), ("IX", 9), ("XI", 11), ("XIV", 14), ("XV", 15)],
)
def test_roman_numerals(numeral: str, value: int) -> None:
    assert roman_to_int(numeral) == value


@pytest.mark.parametrize(
    ("rating", "fsc", "outlook", "parts", "expected"),
    [
        ("A++", "XV", "stable", (1, 0, 0), 1),
        ("A+", "VII", "positive", (1, 0, 0), 1),  # VII is not penalised
        ("A+", "VI", "stable", (1, 1, 0), 2),  # VI and below are
        ("A+", None, "stable", (1, 1, 0), 2),  # unknown FSC is penalised
        ("A+", "XI", "negative", (1, 0, 1), 2),
        ("A+", "XI", "developing", (1, 0, 1), 2),
        ("A", "XI", "stable", (2, 0, 0), 2),
        ("A-", "XI", "stable", (2, 0, 0), 2),
        ("A-", "V", "negative", (2, 1, 1), 4),
        ("B++", "X", "stable", (3, 0, 0), 3),
        ("B++", "IV", "developing", (3, 1, 1), 4),  # 5, capped at 4
        ("B+", "X", "stable", (4, 0, 0), 4),
        ("C++", "III", "negative", (4, 1, 1), 4),
        ("D", "I", "stable", (4, 1, 0), 4),
    ],
)
def test_financial_base_penalties_and_cap(
    rating: str, fsc: str | None, outlook: str, parts: tuple[int, int, int], expected: int
) -> None:
    carrier = make_carrier(am_best_rating=rating, am_best_fsc=fsc, rating_outlook=outlook)
    assert financial_parts(carrier) == parts
    assert level(FINANCIAL, carrier, make_profile(min_am_best="D")) == expected


# --- pricing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "pct"),
    [
        (100_000, 80),
        (500_000, 80),
        (500_001, 100),
        (1_000_000, 100),
        (1_000_001, 140),
        (2_000_000, 140),
        (2_000_001, 170),
        (3_000_000, 170),
        (3_000_001, 210),
        (5_000_000, 210),
        (5_000_001, 280),
        (10_000_000, 280),
        (10_000_001, 350),
        (100_000_000, 350),
    ],
)
def test_ilf_boundaries(limit: int, pct: int) -> None:
    assert ilf_pct(limit) == pct


def test_market_premium_example_12m_pl_at_1m() -> None:
    assert market_premium(12_000_000, 120, 100) == 14_400
    assert context().market == 14_400


def test_market_premium_rounds_up_and_is_at_least_one() -> None:
    assert market_premium(1, 40, 80) == 1
    assert market_premium(1_000_001, 120, 100) == 1_201  # 1200.0012 -> 1201


@pytest.mark.parametrize(
    ("rate_index", "rated", "ratio", "expected"),
    [
        (87, 12_528, 87, 1),  # car_01205's premium
        (90, 12_960, 90, 1),
        (91, 13_104, 91, 2),
        (100, 14_400, 100, 2),
        (101, 14_544, 101, 3),
        (115, 16_560, 115, 3),
        (116, 16_704, 116, 4),
    ],
)
def test_pricing_ratio_levels(rate_index: int, rated: int, ratio: int, expected: int) -> None:
    carrier = make_carrier(rate_index=rate_index, min_premium=0)
    assert pricing(14_400, facts(carrier)) == (rated, rated, ratio, expected, False)
    assert level(PRICING, carrier) == expected


def test_pricing_rated_and_ratio_round_up() -> None:
    # market 1201: rated = ceil(1201 x 87 / 100) = ceil(1044.87) = 1045;
    # ratio = ceil(104500 / 1201) = ceil(87.01) = 88.
    carrier = make_carrier(rate_index=87, min_premium=0)
    assert pricing(1_201, facts(carrier)) == (1_045, 1_045, 88, 1, False)


@pytest.mark.parametrize(
    ("min_premium", "premium", "applies", "ratio", "expected"),
    [
        (12_527, 12_528, False, 87, 1),
        (12_528, 12_528, False, 87, 1),  # equal: the minimum does not "apply"
        (12_529, 12_529, True, 88, 1),
        (14_400, 14_400, True, 100, 2),
        (20_000, 20_000, True, 139, 4),
    ],
)
def test_min_premium(
    min_premium: int, premium: int, applies: bool, ratio: int, expected: int
) -> None:
    carrier = make_carrier(rate_index=87, min_premium=min_premium)
    scored = score(carrier)
    assert (scored.rated, scored.premium, scored.min_premium_applies) == (12_528, premium, applies)
    assert scored.ratio_pct == ratio
    assert level(PRICING, carrier) == expected


# --- placement -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("binding", "turnaround", "access", "expected"),
    [
        ("instant", 0, "direct", 1),  # 2 + 2 + 1 = 5
        ("instant", 2, "wholesale", 1),  # 2 + 2 = 4
        ("delegated", 2, "direct", 1),  # 1 + 2 + 1 = 4
        ("delegated", 2, "wholesale", 2),  # 3
        ("instant", 3, "wholesale", 2),  # 2 + 1 = 3
        ("instant", 5, "wholesale", 2),  # 2 + 1 = 3
        ("instant", 6, "wholesale", 3),  # 2 + 0 = 2
        ("instant", None, "wholesale", 3),  # unknown turnaround counts 0
        ("submission", 2, "wholesale", 3),  # 2
        ("submission", 5, "direct", 3),  # 1 + 1 = 2
        ("submission", 5, "wholesale", 4),  # 1
        ("submission", 7, "wholesale", 4),  # 0
    ],
)
def test_placement_points_and_levels(
    binding: str, turnaround: int | None, access: str, expected: int
) -> None:
    carrier = make_carrier(
        binding_authority=binding, quote_turnaround_days=turnaround, access=access
    )
    assert level(PLACEMENT, carrier) == expected


@pytest.mark.parametrize(
    ("binding", "turnaround", "access", "lead_days", "expected"),
    [
        ("delegated", 2, "wholesale", None, 2),  # no effective_date: no lead-time check
        ("delegated", 2, "wholesale", 2, 2),  # lead 2 is not < 2
        ("delegated", 2, "wholesale", 1, 3),  # lead 1 < 2: one step worse
        ("delegated", 0, "wholesale", 0, 2),
        ("delegated", 0, "wholesale", -5, 3),  # effective date already past
        ("instant", 3, "direct", 3, 1),  # 2 + 1 + 1 = 4
        ("instant", 3, "direct", 2, 2),
        ("instant", None, "direct", None, 2),  # 2 + 0 + 1 = 3
        ("instant", None, "direct", 365, 3),  # unknown turnaround with an effective date
    ],
)
def test_placement_lead_time(
    binding: str, turnaround: int | None, access: str, lead_days: int | None, expected: int
) -> None:
    carrier = make_carrier(
        binding_authority=binding, quote_turnaround_days=turnaround, access=access
    )
    profile = (
        make_profile()
        if lead_days is None
        else make_profile(effective_date=AS_OF + dt.timedelta(days=lead_days))
    )
    assert level(PLACEMENT, carrier, profile) == expected


def test_placement_lead_time_penalty_is_capped_at_l4() -> None:
    carrier = make_carrier(binding_authority="submission", quote_turnaround_days=7)
    assert level(PLACEMENT, carrier, make_profile(effective_date=AS_OF)) == 4


def test_placement_lead_time_counts_from_options_as_of() -> None:
    carrier = make_carrier(quote_turnaround_days=2)
    profile = make_profile(effective_date=dt.date(2025, 7, 10))
    on_time = score(carrier, profile, as_of=dt.date(2025, 7, 8))  # lead 2
    late = score(carrier, profile, as_of=dt.date(2025, 7, 9))  # lead 1
    assert (on_time.info.levels[PLACEMENT], late.info.levels[PLACEMENT]) == (2, 3)


# --- service ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        (None, 3),
        (0, 1),
        (50, 1),
        (51, 2),
        (100, 2),
        (101, 3),
        (200, 3),
        (201, 4),
        (400, 4),
    ],
)
def test_service_levels(ci: int | None, expected: int) -> None:
    assert level(SERVICE, make_carrier(complaint_index_x100=ci)) == expected


def test_default_carrier_scores_like_the_seed_example() -> None:
    assert score(make_carrier()).info.levels == (1, 2, 1, 1, 2, 1)
