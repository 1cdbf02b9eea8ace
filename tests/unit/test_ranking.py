"""Fit score, tiers, ranking order and confidence (DOMAIN.md §6)."""

from __future__ import annotations

import datetime as dt

import pytest

from nexio_lite.verticals.carriers.ranking import (
    LEVEL_INFO,
    confidence,
    fit,
    freshness_points,
    level_index,
    tier,
    verification_points,
)

from .scoring_helpers import AS_OF, carrier_with_levels, make_carrier, make_profile, run, score


@pytest.mark.parametrize(
    ("levels", "raw", "fit_score"),
    [
        ((1, 1, 1, 1, 1, 1), 33, 100),
        ((4, 4, 4, 4, 4, 4), 0, 0),
        ((1, 2, 1, 1, 2, 1), 30, 90),  # car_01205 for the seed profile
        ((2, 2, 2, 2, 2, 2), 22, 66),
        ((2, 2, 2, 2, 3, 2), 21, 63),
        ((3, 3, 3, 3, 3, 3), 11, 33),
        ((3, 3, 3, 3, 4, 3), 10, 30),
        ((4, 1, 1, 1, 1, 1), 24, 72),  # appetite weighs 3
        ((1, 4, 1, 1, 1, 1), 27, 81),  # coverage, financial, pricing weigh 2
        ((1, 1, 1, 1, 4, 1), 30, 90),  # placement, service weigh 1
        ((1, 1, 1, 1, 1, 2), 32, 96),  # floor(3200 / 33) = 96
    ],
)
def test_fit_formula(levels: tuple[int, ...], raw: int, fit_score: int) -> None:
    assert fit(levels) == (raw, fit_score)
    info = LEVEL_INFO[level_index(levels)]
    assert (info.levels, info.raw, info.fit_score) == (levels, raw, fit_score)


@pytest.mark.parametrize(
    ("appetite", "n4", "fit_score", "expected"),
    [
        (1, 0, 66, (1, "T1")),
        (1, 0, 65, (2, "T2")),
        (1, 1, 90, (2, "T2")),  # one L4 blocks STRONG
        (2, 0, 95, (2, "T2")),  # appetite L2 blocks STRONG
        (2, 1, 50, (2, "T2")),
        (2, 1, 49, (3, "T3")),
        (2, 2, 60, (3, "T3")),  # two L4s block GOOD
        (3, 0, 90, (3, "T3")),  # appetite L3 blocks GOOD
        (3, 5, 33, (3, "T3")),
        (3, 0, 32, (4, "T4")),
        (1, 0, 32, (4, "T4")),
        (4, 0, 90, (4, "T4")),  # appetite L4 is always WEAK
    ],
)
def test_tier_boundaries(appetite: int, n4: int, fit_score: int, expected: tuple) -> None:
    assert tier(appetite, n4, fit_score) == expected


def test_tiers_from_levels() -> None:
    assert LEVEL_INFO[level_index((1, 2, 1, 1, 2, 1))].tier_name == "STRONG_FIT"
    assert LEVEL_INFO[level_index((1, 1, 1, 1, 1, 4))].tier_name == "GOOD_FIT"  # n4 = 1
    assert LEVEL_INFO[level_index((1, 4, 1, 1, 1, 4))].tier_name == "POSSIBLE_FIT"  # n4 = 2
    assert LEVEL_INFO[level_index((4, 1, 1, 1, 1, 1))].tier_name == "WEAK_FIT"


# --- ranking order ---------------------------------------------------------------


def _order(*carriers, profile=None) -> list[str]:
    return [c["carrier_id"] for c in run(*carriers, profile=profile).candidates]


def test_tier_ranks_before_fit() -> None:
    """A GOOD with fit 90 still ranks below a STRONG with fit 69."""
    good = carrier_with_levels((2, 1, 1, 1, 1, 1), carrier_id="car_00001", name="A")
    strong = carrier_with_levels((1, 3, 2, 2, 2, 2), carrier_id="car_00002", name="B")
    result = run(good, strong)
    assert [(c["carrier_id"], c["tier"], c["fit_score"]) for c in result.candidates] == [
        ("car_00002", "STRONG_FIT", 69),
        ("car_00001", "GOOD_FIT", 90),
    ]


def test_higher_fit_ranks_first_within_a_tier() -> None:
    low = carrier_with_levels((1, 2, 1, 1, 2, 2), carrier_id="car_00001", name="A")
    high = carrier_with_levels((1, 2, 1, 1, 2, 1), carrier_id="car_00002", name="B")
    assert _order(low, high) == ["car_00002", "car_00001"]


def test_better_appetite_ranks_first_at_equal_tier_and_fit() -> None:
    """Both GOOD_FIT with raw 23: appetite L1 (n4 = 1) before appetite L2."""
    l2 = carrier_with_levels((2, 3, 1, 1, 2, 3), carrier_id="car_00001", name="A")
    l1 = carrier_with_levels((1, 4, 1, 1, 3, 3), carrier_id="car_00002", name="B")
    result = run(l2, l1)
    assert [(c["tier"], c["fit_score"]) for c in result.candidates] == [("GOOD_FIT", 69)] * 2
    assert [c["carrier_id"] for c in result.candidates] == ["car_00002", "car_00001"]


def test_better_financial_ranks_first_before_premium() -> None:
    """Same tier, fit and appetite: financial L1 (pricing L2) before financial L2
    (pricing L1), although its premium is higher."""
    cheap = carrier_with_levels((1, 2, 2, 1, 2, 1), carrier_id="car_00001", name="A")
    strong = carrier_with_levels((1, 2, 1, 2, 2, 1), carrier_id="car_00002", name="B")
    assert _order(cheap, strong) == ["car_00002", "car_00001"]


def test_lower_premium_ranks_first_then_name_then_carrier_id() -> None:
    base = (1, 2, 1, 1, 2, 1)
    pricey = carrier_with_levels(base, carrier_id="car_00001", name="A", rate_index=88)
    cheap_b = carrier_with_levels(base, carrier_id="car_00002", name="b", rate_index=80)
    cheap_z = carrier_with_levels(base, carrier_id="car_00003", name="Z", rate_index=80)
    twin_4 = carrier_with_levels(base, carrier_id="car_00004", name="Z", rate_index=80)
    # "Z" (U+005A) sorts before "b" (U+0062) by code point; equal names by carrier_id.
    assert _order(pricey, twin_4, cheap_b, cheap_z) == [
        "car_00003",
        "car_00004",
        "car_00002",
        "car_00001",
    ]


def test_rank_starts_at_one_and_is_consecutive() -> None:
    carriers = [
        carrier_with_levels((1, 2, 1, 1, 2, 1), carrier_id=f"car_{i:05d}", name=f"N{i}")
        for i in range(1, 6)
    ]
    assert [c["rank"] for c in run(*carriers).candidates] == [1, 2, 3, 4, 5]


# --- confidence ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "points"), [(-3, 2), (0, 2), (180, 2), (181, 1), (365, 1), (366, 0), (900, 0)]
)
def test_freshness_points(age: int, points: int) -> None:
    assert freshness_points(age) == points
    carrier = make_carrier(data_as_of=AS_OF - dt.timedelta(days=age))
    assert score(carrier).freshness == points


@pytest.mark.parametrize(("unverified", "points"), [(0, 2), (1, 2), (2, 1), (3, 1), (4, 0), (6, 0)])
def test_verification_points(unverified: int, points: int) -> None:
    assert verification_points(unverified) == points


@pytest.mark.parametrize(("total", "value"), [(6, "HIGH"), (5, "HIGH"), (4, "MEDIUM"),
                                               (3, "MEDIUM"), (2, "LOW"), (0, "LOW")])  # fmt: skip
def test_confidence_thresholds(total: int, value: str) -> None:
    assert confidence(total) == value


@pytest.mark.parametrize(
    ("nulls", "points"),
    [
        ({}, 2),
        ({"complaint_index_x100": None}, 1),
        ({"naic_code": None}, 1),
        ({"am_best_fsc": None, "quote_turnaround_days": None}, 0),
        (
            {
                "complaint_index_x100": None,
                "am_best_fsc": None,
                "quote_turnaround_days": None,
                "naic_code": None,
            },
            0,
        ),
    ],
)
def test_completeness_points(nulls: dict[str, None], points: int) -> None:
    scored = score(make_carrier(**nulls))
    assert scored.facts.completeness_points == points
    assert scored.facts.null_fields == tuple(
        f
        for f in ("complaint_index_x100", "am_best_fsc", "quote_turnaround_days", "naic_code")
        if f in nulls
    )


@pytest.mark.parametrize(
    ("restrictions", "unverified"),
    [
        ({}, 1),  # only F12 (limit defaulted)
        ({"naics_excluded": ("5413",)}, 2),
        ({"naics_excluded": ("5413",), "min_years_in_business": 1}, 3),
        ({"naics_excluded": ("5413",), "min_years_in_business": 1, "max_claims_3yr": 5}, 4),
    ],
)
def test_unverified_count_for_a_minimal_profile(restrictions: dict, unverified: int) -> None:
    assert score(make_carrier(**restrictions)).unverified == unverified


def test_given_fields_are_verified() -> None:
    carrier = make_carrier(naics_excluded=("5413",), min_years_in_business=1, max_loss_ratio_pct=60)
    profile = make_profile(
        naics="541511", years_in_business=5, loss_ratio_bp=100, requested_limit=1_000_000
    )
    assert score(carrier, profile).unverified == 0


@pytest.mark.parametrize(
    ("age", "nulls", "restrictions", "expected"),
    [
        (180, {}, {}, "HIGH"),  # 2 + 2 + 2 = 6
        (181, {}, {}, "HIGH"),  # 1 + 2 + 2 = 5
        (181, {}, {"naics_excluded": ("5413",)}, "MEDIUM"),  # 1 + 2 + 1 (2 unverified) = 4
        (
            259,
            {},
            {"naics_excluded": ("5413",), "max_loss_ratio_pct": 60, "max_claims_3yr": 1},
            "MEDIUM",
        ),  # car_01205: 1 + 2 + 0 = 3
        (366, {}, {}, "MEDIUM"),  # 0 + 2 + 2 = 4
        (200, {"naic_code": None}, {"max_claims_3yr": 1}, "MEDIUM"),  # 1 + 1 + 1 = 3
        (366, {"naic_code": None}, {"min_years_in_business": 1}, "LOW"),  # 0 + 1 + 1 = 2
        (366, {"naic_code": None, "am_best_fsc": None}, {}, "LOW"),  # 0 + 0 + 2 = 2
    ],
)
def test_confidence_combines_the_three_parts(
    age: int, nulls: dict, restrictions: dict, expected: str
) -> None:
    carrier = make_carrier(data_as_of=AS_OF - dt.timedelta(days=age), **nulls, **restrictions)
    assert score(carrier).confidence == expected
