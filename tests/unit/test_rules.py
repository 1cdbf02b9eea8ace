"""Filter rules F01–F12 (DOMAIN.md §4): pass, fail and unverified on both sides of
every boundary, with hand-built carriers and hand-computed expectations."""

from __future__ import annotations

import pytest

from nexio_lite.verticals.carriers.rules import RULE_CODES

from .scoring_helpers import make_carrier, make_profile, outcome, run


def test_rule_codes_are_the_twelve_in_order() -> None:
    assert RULE_CODES == (
        "F01_CARRIER_NOT_ACTIVE",
        "F02_LINE_NOT_WRITTEN",
        "F03_STATE_NOT_AVAILABLE",
        "F04_NOT_ADMITTED",
        "F05_RATING_BELOW_MINIMUM",
        "F06_REVENUE_OUT_OF_RANGE",
        "F07_CLASS_EXCLUDED",
        "F08_YEARS_IN_BUSINESS_BELOW_MIN",
        "F09_LOSS_RATIO_ABOVE_MAX",
        "F10_CLAIMS_ABOVE_MAX",
        "F11_EMPLOYEES_ABOVE_MAX",
        "F12_LIMIT_ABOVE_MAX",
    )


@pytest.mark.parametrize(("status", "expected"), [("active", "pass"), ("runoff", "fail")])
def test_f01_fails_a_carrier_in_runoff(status: str, expected: str) -> None:
    assert outcome("F01", make_carrier(status=status)) == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ({"professional_liability": "limited"}, "pass"),
        ({"general_liability": "target", "cyber": "target"}, "fail"),
    ],
)
def test_f02_fails_when_the_line_is_not_written(lines: dict[str, str], expected: str) -> None:
    assert outcome("F02", make_carrier(lines=lines)) == expected


@pytest.mark.parametrize(("states", "expected"), [(("AZ", "CA"), "pass"), (("AZ", "NV"), "fail")])
def test_f03_fails_when_the_state_is_not_available(states: tuple[str, ...], expected: str) -> None:
    carrier = make_carrier(states=states, target_states=())
    assert outcome("F03", carrier) == expected


@pytest.mark.parametrize(
    ("admitted_only", "market_type", "expected"),
    [
        (True, "surplus", "fail"),
        (True, "admitted", "pass"),
        (False, "surplus", "pass"),
        (False, "admitted", "pass"),
    ],
)
def test_f04_fails_surplus_carriers_only_when_admitted_only(
    admitted_only: bool, market_type: str, expected: str
) -> None:
    profile = make_profile(admitted_only=admitted_only)
    assert outcome("F04", make_carrier(market_type=market_type), profile) == expected


@pytest.mark.parametrize(
    ("rating", "min_am_best", "expected"),
    [
        ("B+", None, "pass"),  # the default floor B+ is inclusive
        ("B", None, "fail"),
        ("A", "A", "pass"),
        ("A-", "A", "fail"),
        ("A++", "A++", "pass"),
        ("A+", "A++", "fail"),
        ("D", "D", "pass"),
        ("C-", "D", "pass"),
        ("E", "D", "fail"),
        ("F", "D", "fail"),
        ("S", "D", "fail"),
        ("NR", "D", "fail"),
        ("NR", None, "fail"),
    ],
)
def test_f05_rating_floor(rating: str, min_am_best: str | None, expected: str) -> None:
    profile = make_profile() if min_am_best is None else make_profile(min_am_best=min_am_best)
    fsc = None if rating in ("E", "F", "S", "NR") else "XI"
    outlook = None if rating == "NR" else "stable"
    carrier = make_carrier(am_best_rating=rating, am_best_fsc=fsc, rating_outlook=outlook)
    assert outcome("F05", carrier, profile) == expected


@pytest.mark.parametrize(
    ("revenue", "expected"),
    [(999_999, "fail"), (1_000_000, "pass"), (500_000_000, "pass"), (500_000_001, "fail")],
)
def test_f06_revenue_range_is_inclusive(revenue: int, expected: str) -> None:
    assert outcome("F06", make_carrier(), make_profile(revenue=revenue)) == expected


def test_f06_min_revenue_zero_accepts_revenue_one() -> None:
    carrier = make_carrier(min_revenue=0)
    assert outcome("F06", carrier, make_profile(revenue=1)) == "pass"


@pytest.mark.parametrize(
    ("naics", "excluded", "expected"),
    [
        ("54", ("541110",), "pass"),  # a shorter profile code does not match a longer prefix
        ("541110", ("541110",), "fail"),
        ("5411", ("541110",), "pass"),
        ("541110", ("5411",), "fail"),
        ("541211", ("5411",), "pass"),
        ("541219", ("5412", "5413"), "fail"),
        ("23", ("2382",), "pass"),
        (None, ("541110",), "unverified"),
        (None, (), "pass"),
        ("541110", (), "pass"),
    ],
)
def test_f07_prefix_rule(naics: str | None, excluded: tuple[str, ...], expected: str) -> None:
    profile = make_profile() if naics is None else make_profile(naics=naics)
    assert outcome("F07", make_carrier(naics_excluded=excluded), profile) == expected


@pytest.mark.parametrize(
    ("years", "min_years", "expected"),
    [
        (2, 3, "fail"),
        (3, 3, "pass"),
        (0, 0, "pass"),
        (None, 3, "unverified"),
        (None, 1, "unverified"),
        (None, 0, "pass"),
    ],
)
def test_f08_years_in_business(years: int | None, min_years: int, expected: str) -> None:
    profile = make_profile() if years is None else make_profile(years_in_business=years)
    carrier = make_carrier(min_years_in_business=min_years)
    assert outcome("F08", carrier, profile) == expected


@pytest.mark.parametrize(
    ("lr_bp", "max_pct", "expected"),
    [
        (6500, 65, "pass"),  # 0.65 = 65%: not above
        (6501, 65, "fail"),
        (0, 50, "pass"),
        (99999, None, "pass"),
        (None, 65, "unverified"),
        (None, None, "pass"),
    ],
)
def test_f09_loss_ratio_in_basis_points(
    lr_bp: int | None, max_pct: int | None, expected: str
) -> None:
    profile = make_profile() if lr_bp is None else make_profile(loss_ratio_bp=lr_bp)
    carrier = make_carrier(max_loss_ratio_pct=max_pct)
    assert outcome("F09", carrier, profile) == expected


@pytest.mark.parametrize(
    ("claims", "max_claims", "expected"),
    [
        (3, 3, "pass"),
        (4, 3, "fail"),
        (1, 0, "fail"),
        (0, 0, "pass"),
        (10_000, None, "pass"),
        (None, 0, "unverified"),
        (None, None, "pass"),
    ],
)
def test_f10_claims(claims: int | None, max_claims: int | None, expected: str) -> None:
    profile = make_profile() if claims is None else make_profile(claims_3yr=claims)
    assert outcome("F10", make_carrier(max_claims_3yr=max_claims), profile) == expected


@pytest.mark.parametrize(
    ("employees", "max_employees", "expected"),
    [
        (250, 250, "pass"),
        (251, 250, "fail"),
        (1_000_000, None, "pass"),
        (None, 50, "unverified"),
        (None, None, "pass"),
    ],
)
def test_f11_employees(employees: int | None, max_employees: int | None, expected: str) -> None:
    profile = make_profile() if employees is None else make_profile(employees=employees)
    carrier = make_carrier(max_employees=max_employees)
    assert outcome("F11", carrier, profile) == expected


@pytest.mark.parametrize(
    ("requested", "max_limit", "expected"),
    [
        (5_000_000, 5_000_000, "pass"),
        (5_000_001, 5_000_000, "fail"),
        (1_000_000, 1_000_000, "pass"),  # given explicitly: verified
        (None, 1_000_000, "unverified"),  # defaulted to 1M and passes
        (None, 25_000_000, "unverified"),
        (None, 999_999, "fail"),  # defaulted and fails: a failure, not unverified
    ],
)
def test_f12_limit_and_the_defaulted_limit(
    requested: int | None, max_limit: int, expected: str
) -> None:
    profile = make_profile() if requested is None else make_profile(requested_limit=requested)
    assert outcome("F12", make_carrier(max_limit=max_limit), profile) == expected


def test_primary_reason_is_the_first_failing_rule_in_order() -> None:
    """A carrier failing F05, F06 and F12 counts once, under F05."""
    carrier = make_carrier(am_best_rating="B", max_revenue=2_000_000, max_limit=500_000)
    result = run(carrier)
    reasons = result.stages[0].extras["primary_reason_counts"]
    assert result.filtered == 1
    assert result.passed == 0
    assert reasons["F05_RATING_BELOW_MINIMUM"] == 1
    assert sum(reasons.values()) == 1


def test_unverified_counts_as_a_pass() -> None:
    carrier = make_carrier(
        naics_excluded=("5413",),
        min_years_in_business=3,
        max_loss_ratio_pct=60,
        max_claims_3yr=1,
        max_employees=50,
    )
    result = run(carrier)
    assert (result.filtered, result.passed) == (0, 1)


def test_filter_counts_every_rule_code_with_zeros() -> None:
    carriers = [
        make_carrier(status="runoff"),
        make_carrier(lines={"cyber": "target"}),
        make_carrier(states=("NY",), target_states=()),
        make_carrier(market_type="surplus"),
        make_carrier(am_best_rating="NR", am_best_fsc=None, rating_outlook=None),
        make_carrier(min_revenue=25_000_000, band_min=25_000_000, band_max=50_000_000),
        make_carrier(naics_excluded=("54",)),
        make_carrier(min_years_in_business=3),
        make_carrier(max_loss_ratio_pct=50),
        make_carrier(max_claims_3yr=1),
        make_carrier(max_employees=10),
        make_carrier(max_limit=1_000_000),
        make_carrier(),
    ]
    profile = make_profile(
        admitted_only=True,
        naics="541511",
        years_in_business=2,
        loss_ratio_bp=5001,
        claims_3yr=2,
        employees=11,
        requested_limit=2_000_000,
    )
    result = run(*carriers, profile=profile)
    reasons = result.stages[0].extras["primary_reason_counts"]
    assert list(reasons) == list(RULE_CODES)
    assert all(count == 1 for count in reasons.values())
    assert (result.pool_size, result.filtered, result.passed) == (13, 12, 1)
    assert result.stages[0].extras["removed"] == 12
