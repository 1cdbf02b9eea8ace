"""Money formatting and the reasoning sentence (DOMAIN.md §6, "Reasoning")."""

from __future__ import annotations

import pytest

from nexio_lite.verticals.carriers.reasoning import (
    EN_DASH,
    am_best_clause,
    format_band,
    format_complaint_index,
    format_money,
    format_premium,
    placement_clause,
    reasoning_sentence,
    service_clause,
)

from .scoring_helpers import carrier_with_levels, make_carrier, make_profile, run

SEED_SENTENCE = (
    "Strong CA prof. liability appetite, $10–15M band; AM Best A+ (XI); est. premium $12,528 "
    "(below market); delegated authority, 2-day quote, via wholesaler; low complaint index 0.13."
)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0"),
        (999, "$999"),
        (1_000, "$1K"),
        (1_500, "$1.5K"),
        (250_000, "$250K"),
        (999_999, "$999.99K"),  # truncated, not rounded to $1000K or $1M
        (1_000_000, "$1M"),
        (1_000_001, "$1M"),  # remainder below 0.01: no decimals
        (1_010_000, "$1.01M"),
        (1_100_000, "$1.1M"),  # trailing zero stripped
        (2_500_000, "$2.5M"),
        (2_999_999, "$2.99M"),
        (10_000_000, "$10M"),
        (999_999_999, "$999.99M"),
        (1_000_000_000, "$1B"),
        (2_500_000_000, "$2.5B"),
        (10_000_000_000, "$10B"),
    ],
)
def test_format_money_truncates_to_two_decimals(amount: int, text: str) -> None:
    assert format_money(amount) == text


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (10_000_000, 15_000_000, "$10–15M"),
        (2_500_000, 15_000_000, "$2.5–15M"),
        (500_000_000, 1_000_000_000, "$500M–1B"),
        (250_000, 1_000_000, "$250K–1M"),
        (250_000, 500_000, "$250–500K"),
        (1_000_000_000, 2_500_000_000, "$1–2.5B"),
        (0, 250_000, "$0–250K"),
        (2_999_999, 3_000_000, "$2.99–3M"),
    ],
)
def test_format_band(low: int, high: int, text: str) -> None:
    assert format_band(low, high) == text


def test_band_uses_an_en_dash() -> None:
    assert EN_DASH == "\u2013"
    assert "\u2013" in format_band(1, 2)
    assert "-" not in format_band(10_000_000, 15_000_000)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "$0"), (999, "$999"), (1_000, "$1,000"), (12_528, "$12,528"), (1_234_567, "$1,234,567")],
)
def test_format_premium_has_comma_thousands(amount: int, text: str) -> None:
    assert format_premium(amount) == text


@pytest.mark.parametrize(
    ("ci", "text"), [(0, "0.00"), (5, "0.05"), (13, "0.13"), (100, "1.00"), (240, "2.40")]
)
def test_complaint_index_has_two_decimals(ci: int, text: str) -> None:
    assert format_complaint_index(ci) == text


@pytest.mark.parametrize(
    ("rating", "fsc", "outlook", "text"),
    [
        ("A+", "XI", "stable", "AM Best A+ (XI)"),
        ("A", None, "positive", "AM Best A (FSC n/a)"),
        ("A-", "VIII", "negative", "AM Best A- (VIII), negative outlook"),
        ("B++", "VI", "developing", "AM Best B++ (VI), developing outlook"),
    ],
)
def test_am_best_clause(rating: str, fsc: str | None, outlook: str, text: str) -> None:
    assert am_best_clause(rating, fsc, outlook) == text


@pytest.mark.parametrize(
    ("binding", "turnaround", "access", "market", "text"),
    [
        ("delegated", 2, "wholesale", "admitted", "delegated authority, 2-day quote, "
                                                  "via wholesaler"),
        ("instant", 0, "direct", "admitted", "instant bind, same-day quote"),
        ("instant", 1, "direct", "admitted", "instant bind, 1-day quote"),
        ("submission", None, "direct", "admitted", "underwriter review"),
        ("submission", 7, "wholesale", "surplus", "underwriter review, 7-day quote, "
                                                  "via wholesaler, E&S"),
        ("delegated", None, "direct", "surplus", "delegated authority, E&S"),
    ],
)  # fmt: skip
def test_placement_clause(
    binding: str, turnaround: int | None, access: str, market: str, text: str
) -> None:
    assert placement_clause(binding, turnaround, access, market) == text


@pytest.mark.parametrize(
    ("level", "ci", "text"),
    [
        (1, 13, "low complaint index 0.13"),
        (1, 50, "low complaint index 0.50"),
        (2, 80, ""),
        (3, 150, ""),
        (3, None, ""),
        (4, 201, "high complaint index 2.01"),
    ],
)
def test_service_clause_only_at_l1_or_l4(level: int, ci: int | None, text: str) -> None:
    assert service_clause(level, ci) == text


def _reference(**changes: object) -> str:
    values: dict = {
        "appetite_level": 1,
        "state": "CA",
        "line": "professional_liability",
        "band_position": "in",
        "band_min": 10_000_000,
        "band_max": 15_000_000,
        "rating": "A+",
        "fsc": "XI",
        "outlook": "stable",
        "premium": 12_528,
        "pricing_level": 1,
        "min_premium_applies": False,
        "binding": "delegated",
        "turnaround": 2,
        "access": "wholesale",
        "market_type": "admitted",
        "service_level": 1,
        "ci_x100": 13,
    }
    values.update(changes)
    return reasoning_sentence(**values)


def test_reference_sentence_matches_the_seed_example() -> None:
    assert _reference() == SEED_SENTENCE


def test_reference_sentence_variants() -> None:
    assert _reference(
        appetite_level=3,
        state="TX",
        line="workers_comp",
        band_position="below",
        band_min=2_500_000,
        band_max=15_000_000,
        fsc=None,
        outlook="negative",
        premium=1_500,
        pricing_level=4,
        min_premium_applies=True,
        binding="instant",
        turnaround=0,
        access="direct",
        market_type="surplus",
        service_level=2,
        ci_x100=80,
    ) == (
        "Moderate TX workers' comp appetite, below its $2.5–15M band; "
        "AM Best A+ (FSC n/a), negative outlook; "
        "est. premium $1,500 (well above market, minimum premium); "
        "instant bind, same-day quote, E&S."
    )
    assert _reference(
        appetite_level=4, line="directors_officers", band_position="above", pricing_level=3,
        service_level=4, ci_x100=240,
    ).startswith("Limited CA D&O appetite, above its $10–15M band;")  # fmt: skip
    assert _reference(appetite_level=2, pricing_level=2, line="bop").startswith(
        "Solid CA BOP appetite"
    )


def test_evaluate_renders_the_seed_sentence() -> None:
    result = run(make_carrier())
    assert result.candidates[0]["reasoning"] == SEED_SENTENCE


def test_evaluate_renders_below_band_minimum_premium_and_high_complaints() -> None:
    carrier = carrier_with_levels(
        (1, 2, 1, 4, 2, 4), band_min=15_000_000, band_max=25_000_000, min_premium=20_000,
        rate_index=87, target_states=("CA",), naics_target=("5415",),
    )  # fmt: skip
    profile = make_profile(naics="541511")  # naics point keeps appetite at L1 below band
    (candidate,) = run(carrier, profile=profile).candidates
    assert candidate["reasoning"] == (
        "Strong CA prof. liability appetite, below its $15–25M band; AM Best A+ (XI); "
        "est. premium $20,000 (well above market, minimum premium); "
        "delegated authority, 2-day quote, via wholesaler; high complaint index 3.00."
    )
