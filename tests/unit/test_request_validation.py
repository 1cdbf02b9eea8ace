"""Request body → validated request (API.md §3–4, DOMAIN.md §2).

Expected messages are copied from the spec text, not imported from the module, so that a
change to either side shows up here. Bodies are written as JSON text and go through
`parse_json_body`, because the number literal itself (`12000000.0`, `1.2e7`, `0.10000`)
decides the outcome.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from nexio_lite.verticals.carriers.request import (
    BodyError,
    Detail,
    ValidatedRequest,
    error_message,
    load_request,
    parse_json_body,
    parse_profile,
    profile_to_dict,
    validate_request,
)
from nexio_lite.verticals.carriers.schema import NAICS_SECTORS, Options, Profile

SEED_PROFILE = {
    "entity": "acme-manufacturing",
    "state": "CA",
    "line": "professional_liability",
    "revenue": 12000000,
}
SEED_BODY = {"profile": SEED_PROFILE, "pool": "carriers:all"}

LINES_SORTED = (
    "bop, commercial_auto, cyber, directors_officers, general_liability, "
    "professional_liability, property, umbrella, workers_comp"
)
MESSAGES = {
    ("entity", "format"): "profile.entity must be 1-64 lowercase letters, digits or hyphens, "
    "not starting or ending with a hyphen",
    ("state", "enum"): "profile.state must be a two-letter uppercase USPS code for one of the "
    "50 states or DC",
    ("line", "enum"): f"profile.line must be one of: {LINES_SORTED}",
    ("min_am_best", "enum"): "profile.min_am_best must be one of: "
    "A++, A+, A, A-, B++, B+, B, B-, C++, C+, C, C-, D",
    ("naics", "format"): "profile.naics must be a 2-6 digit NAICS code starting with a valid "
    "sector",
    ("effective_date", "format"): "profile.effective_date must be a valid date YYYY-MM-DD "
    "between 2000-01-01 and 2099-12-31",
    ("loss_ratio", "format"): "profile.loss_ratio must have at most 4 decimal places",
    ("loss_ratio", "range"): "profile.loss_ratio must be between 0 and 10",
    ("loss_ratio", "type"): "profile.loss_ratio must be a number",
    ("admitted_only", "type"): "profile.admitted_only must be a boolean",
    ("revenue", "range"): "profile.revenue must be between 1 and 10000000000",
    ("employees", "range"): "profile.employees must be between 0 and 1000000",
    ("years_in_business", "range"): "profile.years_in_business must be between 0 and 300",
    ("claims_3yr", "range"): "profile.claims_3yr must be between 0 and 10000",
    ("requested_limit", "range"): "profile.requested_limit must be between 100000 and 100000000",
}
for _f in ("entity", "state", "line", "naics", "effective_date", "min_am_best"):
    MESSAGES[(_f, "type")] = f"profile.{_f} must be a string"
for _f in ("revenue", "employees", "years_in_business", "claims_3yr", "requested_limit"):
    MESSAGES[(_f, "type")] = f"profile.{_f} must be an integer"

Triple = tuple[str, str, str]


def body_text(profile_literals: dict[str, str], extra: str = ', "pool": "carriers:all"') -> str:
    """A request body whose profile is the seed's with `profile_literals` (raw JSON text per
    field) laid over it."""
    parts = {k: json.dumps(v) for k, v in SEED_PROFILE.items()}
    parts.update(profile_literals)
    inner = ", ".join(f"{json.dumps(k)}: {v}" for k, v in parts.items())
    return f'{{"profile": {{{inner}}}{extra}}}'


def validate_text(text: str) -> ValidatedRequest | list[Detail]:
    return validate_request(parse_json_body(text.encode()))


def triples(result: ValidatedRequest | list[Detail]) -> list[Triple]:
    if isinstance(result, ValidatedRequest):
        return []
    return [(d.field, d.code, d.message) for d in result]


def profile_problems(**literals: str) -> list[Triple]:
    return triples(validate_text(body_text(literals)))


def valid(**literals: str) -> ValidatedRequest:
    result = validate_text(body_text(literals))
    assert isinstance(result, ValidatedRequest), result
    return result


def expect(field: str, code: str | None) -> list[Triple]:
    if code is None:
        return []
    return [(f"profile.{field}", code, MESSAGES[(field, code)])]


# ---------------------------------------------------------------- profile fields, bound by bound

FIELD_CASES: list[tuple[str, str, str | None]] = [
    # entity
    ("entity", '"a"', None),
    ("entity", '"0"', None),
    ("entity", '"a-b"', None),
    ("entity", '"a--b"', None),
    ("entity", json.dumps("a" * 64), None),
    ("entity", json.dumps("a" + "-" * 62 + "b"), None),
    ("entity", json.dumps("a" * 65), "format"),
    ("entity", '""', "format"),
    ("entity", '"-acme"', "format"),
    ("entity", '"acme-"', "format"),
    ("entity", '"-"', "format"),
    ("entity", '"Acme"', "format"),
    ("entity", '"acme inc"', "format"),
    ("entity", '"acme_inc"', "format"),
    ("entity", '"acme\\n"', "format"),
    ("entity", '"\\nacme"', "format"),
    ("entity", '"caf\\u00e9"', "format"),
    ("entity", '"\\u0661\\u0662"', "format"),  # Arabic-Indic digits are not [0-9]
    ("entity", "12", "type"),
    ("entity", "true", "type"),
    ("entity", '["a"]', "type"),
    # state
    ("state", '"CA"', None),
    ("state", '"DC"', None),
    ("state", '"WY"', None),
    ("state", '"ca"', "enum"),
    ("state", '"Ca"', "enum"),
    ("state", '"PR"', "enum"),
    ("state", '"CA\\n"', "enum"),
    ("state", '""', "enum"),
    ("state", "6", "type"),
    # line
    ("line", '"eo"', "enum"),
    ("line", '"Cyber"', "enum"),
    ("line", '"cyber "', "enum"),
    ("line", "{}", "type"),
    # revenue
    ("revenue", "0", "range"),
    ("revenue", "1", None),
    ("revenue", "10000000000", None),
    ("revenue", "10000000001", "range"),
    ("revenue", "-1", "range"),
    ("revenue", "-0", "range"),
    ("revenue", "12000000.0", "type"),
    ("revenue", "1.2e7", "type"),
    ("revenue", "1.2E7", "type"),
    ("revenue", "1e7", "type"),
    ("revenue", "12000000.5", "type"),
    ("revenue", "true", "type"),
    ("revenue", "false", "type"),
    ("revenue", '"12000000"', "type"),
    # naics
    ("naics", '"11"', None),
    ("naics", '"541110"', None),
    ("naics", '"5415"', None),
    ("naics", '"5"', "format"),
    ("naics", '"1234567"', "format"),
    ("naics", '"5411100"', "format"),
    ("naics", '"99"', "format"),
    ("naics", '"999999"', "format"),
    ("naics", '"10"', "format"),
    ("naics", '"00"', "format"),
    ("naics", '"54a"', "format"),
    ("naics", '"54\\n"', "format"),
    ("naics", '" 54"', "format"),
    ("naics", '"\\uff15\\uff14"', "format"),  # full-width digits
    ("naics", '""', "format"),
    ("naics", "54", "type"),
    # employees
    ("employees", "-1", "range"),
    ("employees", "0", None),
    ("employees", "1000000", None),
    ("employees", "1000001", "range"),
    ("employees", "1.0", "type"),
    ("employees", "true", "type"),
    # years_in_business
    ("years_in_business", "-1", "range"),
    ("years_in_business", "0", None),
    ("years_in_business", "300", None),
    ("years_in_business", "301", "range"),
    ("years_in_business", "3e1", "type"),
    # claims_3yr
    ("claims_3yr", "-1", "range"),
    ("claims_3yr", "0", None),
    ("claims_3yr", "10000", None),
    ("claims_3yr", "10001", "range"),
    ("claims_3yr", '"3"', "type"),
    # requested_limit
    ("requested_limit", "99999", "range"),
    ("requested_limit", "100000", None),
    ("requested_limit", "100000000", None),
    ("requested_limit", "100000001", "range"),
    ("requested_limit", "1e6", "type"),
    ("requested_limit", "1000000.0", "type"),
    # loss_ratio
    ("loss_ratio", "0", None),
    ("loss_ratio", "-0", None),
    ("loss_ratio", "-0.0", None),
    ("loss_ratio", "0.0001", None),
    ("loss_ratio", "0.45", None),
    ("loss_ratio", "0.10000", None),
    ("loss_ratio", "1e-4", None),
    ("loss_ratio", "4.5E-1", None),
    ("loss_ratio", "10", None),
    ("loss_ratio", "10.0", None),
    ("loss_ratio", "1e1", None),
    ("loss_ratio", "0.12340000000000000000000000000000000000", None),
    ("loss_ratio", "10.0001", "range"),
    ("loss_ratio", "1.00001e1", "range"),
    ("loss_ratio", "11", "range"),
    ("loss_ratio", "-0.0001", "range"),
    ("loss_ratio", "-1", "range"),
    ("loss_ratio", "1e999999", "range"),
    ("loss_ratio", "0.12345", "format"),
    ("loss_ratio", "0.00001", "format"),
    ("loss_ratio", "0.00005", "format"),  # never rounded into range of 4 decimals
    ("loss_ratio", "1e-5", "format"),
    ("loss_ratio", "0.12340000000000000000000000000000000001", "format"),  # beyond 28 digits
    ("loss_ratio", "1e-999999", "format"),
    ("loss_ratio", '"0.45"', "type"),
    ("loss_ratio", "true", "type"),
    ("loss_ratio", "[0.45]", "type"),
    # effective_date
    ("effective_date", '"1999-12-31"', "format"),
    ("effective_date", '"2000-01-01"', None),
    ("effective_date", '"2099-12-31"', None),
    ("effective_date", '"2100-01-01"', "format"),
    ("effective_date", '"2023-02-29"', "format"),
    ("effective_date", '"2024-02-29"', None),
    ("effective_date", '"2025-04-31"', "format"),
    ("effective_date", '"2025-13-01"', "format"),
    ("effective_date", '"2025-1-01"', "format"),
    ("effective_date", '"20250101"', "format"),
    ("effective_date", '"2025-01-01\\n"', "format"),
    ("effective_date", '"2025-01-01T00:00:00"', "format"),
    ("effective_date", '"\\uff12\\uff10\\uff12\\uff15-01-01"', "format"),
    ("effective_date", "20250101", "type"),
    # admitted_only
    ("admitted_only", "true", None),
    ("admitted_only", "false", None),
    ("admitted_only", "1", "type"),
    ("admitted_only", "0", "type"),
    ("admitted_only", '"true"', "type"),
    # min_am_best
    ("min_am_best", '"E"', "enum"),
    ("min_am_best", '"NR"', "enum"),
    ("min_am_best", '"a+"', "enum"),
    ("min_am_best", '"A+ "', "enum"),
    ("min_am_best", "1", "type"),
]


@pytest.mark.parametrize(
    ("field", "literal", "code"),
    FIELD_CASES,
    ids=[f"{f}={lit[:24]}" for f, lit, _ in FIELD_CASES],
)
def test_each_field_bound_gives_its_one_exact_detail(field: str, literal: str, code: str | None):
    assert profile_problems(**{field: literal}) == expect(field, code)


@pytest.mark.parametrize(
    "line",
    [
        "general_liability",
        "professional_liability",
        "directors_officers",
        "cyber",
        "workers_comp",
        "commercial_auto",
        "property",
        "bop",
        "umbrella",
    ],
)
def test_every_line_id_is_accepted(line: str):
    assert valid(line=json.dumps(line)).profile.line == line


@pytest.mark.parametrize("sector", sorted(NAICS_SECTORS))
def test_every_naics_sector_is_accepted_with_2_to_6_digits(sector: str):
    for code in (sector, sector + "1", sector + "1111"):
        assert valid(naics=json.dumps(code)).profile.naics == code


@pytest.mark.parametrize(
    "sector", ["01", "10", "12", "20", "24", "30", "34", "41", "43", "46", "50", "57", "63", "93"]
)
def test_invalid_naics_sector_is_format(sector: str):
    assert profile_problems(naics=json.dumps(sector + "1110")) == expect("naics", "format")


@pytest.mark.parametrize(
    "rating", ["A++", "A+", "A", "A-", "B++", "B+", "B", "B-", "C++", "C+", "C", "C-", "D"]
)
def test_every_am_best_symbol_on_the_scale_is_accepted(rating: str):
    assert valid(min_am_best=json.dumps(rating)).profile.min_am_best == rating


# ---------------------------------------------------------------- required, null, unknown


@pytest.mark.parametrize("field", ["entity", "state", "line", "revenue"])
@pytest.mark.parametrize("how", ["missing", "null"])
def test_missing_or_null_required_field(field: str, how: str):
    profile = dict(SEED_PROFILE)
    if how == "missing":
        del profile[field]
    else:
        profile[field] = None
    result = validate_request({"profile": profile, "pool": "carriers:all"})
    assert triples(result) == [(f"profile.{field}", "required", f"profile.{field} is required")]
    assert isinstance(result, list)
    assert error_message(result) == f"Missing required field: profile.{field}"


def test_empty_profile_lists_the_four_required_fields_sorted():
    result = validate_request({"profile": {}, "pool": "carriers:all"})
    assert triples(result) == [
        ("profile.entity", "required", "profile.entity is required"),
        ("profile.line", "required", "profile.line is required"),
        ("profile.revenue", "required", "profile.revenue is required"),
        ("profile.state", "required", "profile.state is required"),
    ]


def test_optional_fields_sent_as_null_count_as_absent_and_take_defaults():
    nulls = dict.fromkeys(
        (
            "naics",
            "employees",
            "years_in_business",
            "loss_ratio",
            "claims_3yr",
            "requested_limit",
            "effective_date",
            "admitted_only",
            "min_am_best",
        ),
        "null",
    )
    request = valid(**nulls)
    assert request.profile == Profile(
        entity="acme-manufacturing",
        state="CA",
        line="professional_liability",
        revenue=12000000,
        defaults_applied=("admitted_only", "min_am_best", "requested_limit"),
    )
    assert request.normalized["profile"] == SEED_PROFILE


@pytest.mark.parametrize("literal", ["1", "null", '"x"', "{}"])
def test_unknown_profile_key_is_reported_whatever_its_value(literal: str):
    assert profile_problems(foo=literal) == [
        ("profile.foo", "unknown_field", "profile.foo is not a recognized field")
    ]


def test_profile_key_names_are_case_sensitive():
    assert profile_problems(Naics='"54"') == [
        ("profile.Naics", "unknown_field", "profile.Naics is not a recognized field")
    ]


# ---------------------------------------------------------------- the conflict rule

CONFLICT: Triple = (
    "profile.loss_ratio",
    "conflict",
    "profile.loss_ratio must be 0 when profile.claims_3yr is 0",
)


@pytest.mark.parametrize(
    ("claims", "loss_ratio", "expected"),
    [
        ("0", "0.5", [CONFLICT]),
        ("0", "0.0001", [CONFLICT]),
        ("0", "10", [CONFLICT]),
        ("0", "0", []),
        ("0", "0.0000", []),
        ("1", "0.5", []),
        ("0", "null", []),
        ("null", "0.5", []),
        ("0", "0.12345", expect("loss_ratio", "format")),
        ("0", "11", expect("loss_ratio", "range")),
        ("0", '"0.5"', expect("loss_ratio", "type")),
        ('"0"', "0.5", expect("claims_3yr", "type")),
        ("0.0", "0.5", expect("claims_3yr", "type")),
        ("false", "0.5", expect("claims_3yr", "type")),
        ("-1", "0.5", expect("claims_3yr", "range")),
    ],
)
def test_conflict_only_when_both_fields_are_otherwise_valid(
    claims: str, loss_ratio: str, expected: list[Triple]
):
    assert profile_problems(claims_3yr=claims, loss_ratio=loss_ratio) == expected


def test_conflict_sorts_among_other_profile_errors():
    result = validate_text(body_text({"claims_3yr": "0", "loss_ratio": "0.5", "naics": '"9"'}))
    assert triples(result) == [CONFLICT, *expect("naics", "format")]
    assert isinstance(result, list)
    assert error_message(result) == CONFLICT[2]


# ---------------------------------------------------------------- envelope (API.md §4 table)


def envelope_problems(body: object) -> list[Triple]:
    return triples(validate_request(body))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"pool": "carriers:all"}, [("profile", "required", "profile is required")]),
        (
            {"profile": None, "pool": "carriers:all"},
            [("profile", "required", "profile is required")],
        ),
        (
            {"profile": [SEED_PROFILE], "pool": "carriers:all"},
            [("profile", "type", "profile must be an object")],
        ),
        (
            {"profile": "x", "pool": "carriers:all"},
            [("profile", "type", "profile must be an object")],
        ),
        ({"profile": SEED_PROFILE}, [("pool", "required", "pool is required")]),
        ({"profile": SEED_PROFILE, "pool": None}, [("pool", "required", "pool is required")]),
        ({"profile": SEED_PROFILE, "pool": 1}, [("pool", "type", "pool must be a string")]),
        ({"profile": SEED_PROFILE, "pool": ["a"]}, [("pool", "type", "pool must be a string")]),
        (
            {"profile": SEED_PROFILE, "pool": ""},
            [("pool", "format", "pool must be 1-128 characters")],
        ),
        (
            {"profile": SEED_PROFILE, "pool": "p" * 129},
            [("pool", "format", "pool must be 1-128 characters")],
        ),
        ({"profile": SEED_PROFILE, "pool": "p" * 128}, []),
        ({"profile": SEED_PROFILE, "pool": "é" * 128}, []),  # characters, not bytes
        (
            {**SEED_BODY, "webhook_url": 5},
            [("webhook_url", "type", "webhook_url must be a string")],
        ),
        (
            {**SEED_BODY, "webhook_url": {"url": "https://x"}},
            [("webhook_url", "type", "webhook_url must be a string")],
        ),
        ({**SEED_BODY, "webhook_url": "not checked here"}, []),
        ({**SEED_BODY, "webhook_url": None}, []),
        ({**SEED_BODY, "options": []}, [("options", "type", "options must be an object")]),
        ({**SEED_BODY, "options": "x"}, [("options", "type", "options must be an object")]),
        ({**SEED_BODY, "options": None}, []),
        ({**SEED_BODY, "options": {}}, []),
        (
            {**SEED_BODY, "extra": 1},
            [("extra", "unknown_field", "extra is not a recognized field")],
        ),
        (
            {**SEED_BODY, "extra": None},
            [("extra", "unknown_field", "extra is not a recognized field")],
        ),
        (
            {**SEED_BODY, "options": {"foo": 1}},
            [("options.foo", "unknown_field", "options.foo is not a recognized field")],
        ),
        (
            {**SEED_BODY, "options": {"foo": None}},
            [("options.foo", "unknown_field", "options.foo is not a recognized field")],
        ),
    ],
)
def test_envelope_rows(body: dict[str, object], expected: list[Triple]):
    assert envelope_problems(body) == expected


AS_OF_FORMAT = ("options.as_of", "format", "options.as_of must be a valid date YYYY-MM-DD")


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"2025-06-30"', []),
        ('"1900-01-01"', []),  # any real date is fine for as_of
        ('"2150-12-31"', []),
        ('"2024-02-29"', []),
        ("null", []),
        ('"2023-02-29"', [AS_OF_FORMAT]),
        ('"0000-01-01"', [AS_OF_FORMAT]),
        ('"2025-6-30"', [AS_OF_FORMAT]),
        ('"2025-06-30\\n"', [AS_OF_FORMAT]),
        ('"2025-06-30T00:00:00Z"', [AS_OF_FORMAT]),
        ('"20250630"', [AS_OF_FORMAT]),
        ('""', [AS_OF_FORMAT]),
        ("20250630", [AS_OF_FORMAT]),
        ("true", [AS_OF_FORMAT]),
    ],
)
def test_options_as_of(literal: str, expected: list[Triple]):
    text = body_text({}, f', "pool": "carriers:all", "options": {{"as_of": {literal}}}')
    assert triples(validate_text(text)) == expected


LIMIT_TYPE = ("options.limit", "type", "options.limit must be an integer")
LIMIT_RANGE = ("options.limit", "range", "options.limit must be between 1 and 10000")


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1", []),
        ("10000", []),
        ("null", []),
        ("0", [LIMIT_RANGE]),
        ("-1", [LIMIT_RANGE]),
        ("10001", [LIMIT_RANGE]),
        ("5.0", [LIMIT_TYPE]),
        ("5e0", [LIMIT_TYPE]),
        ("true", [LIMIT_TYPE]),
        ('"5"', [LIMIT_TYPE]),
    ],
)
def test_options_limit(literal: str, expected: list[Triple]):
    text = body_text({}, f', "pool": "carriers:all", "options": {{"limit": {literal}}}')
    assert triples(validate_text(text)) == expected


@pytest.mark.parametrize("body", [[], "x", 1, None, True, Decimal("1.5")])
def test_a_body_that_is_not_an_object_is_a_body_error(body: object):
    with pytest.raises(BodyError) as caught:
        validate_request(body)
    assert str(caught.value) == "Request body must be a JSON object"


def test_an_invalid_profile_does_not_hide_envelope_errors():
    body = {"profile": {"revenue": "x", "zzz": 1}, "options": {"limit": 0, "q": 1}, "aaa": 1}
    assert [(f, c) for f, c, _ in envelope_problems(body)] == [
        ("aaa", "unknown_field"),
        ("options.limit", "range"),
        ("options.q", "unknown_field"),
        ("pool", "required"),
        ("profile.entity", "required"),
        ("profile.line", "required"),
        ("profile.revenue", "type"),
        ("profile.state", "required"),
        ("profile.zzz", "unknown_field"),
    ]


def test_details_with_the_same_field_sort_by_code():
    body = {"profile": {**SEED_PROFILE, "entity": None}, "pool": "p", "profile.entity": 1}
    result = validate_request(body)
    assert triples(result) == [
        ("profile.entity", "required", "profile.entity is required"),
        ("profile.entity", "unknown_field", "profile.entity is not a recognized field"),
    ]
    assert isinstance(result, list)
    assert error_message(result) == "Missing required field: profile.entity"


def test_sorting_is_by_code_point_not_by_case_insensitive_order():
    body = {**SEED_BODY, "Zeta": 1, "alpha": 1, "_x": 1}
    assert [f for f, _, _ in envelope_problems(body)] == ["Zeta", "_x", "alpha"]


# ---------------------------------------------------------------- the message rule


def test_message_is_missing_required_field_when_the_first_detail_is_required():
    result = validate_request({"profile": SEED_PROFILE})
    assert isinstance(result, list)
    assert error_message(result) == "Missing required field: pool"
    result = validate_request({"pool": "p"})
    assert isinstance(result, list)
    assert error_message(result) == "Missing required field: profile"


def test_message_is_the_first_details_message_otherwise():
    result = validate_text(body_text({"revenue": "0", "state": '"ca"'}))
    assert isinstance(result, list)
    assert error_message(result) == MESSAGES[("revenue", "range")]


def test_message_follows_the_first_detail_even_when_a_later_one_is_required():
    result = validate_request({"profile": {**SEED_PROFILE, "naics": "9"}, "pool": None})
    assert triples(result)[0][:2] == ("pool", "required")
    result = validate_request({"profile": {"entity": "UPPER"}, "pool": "p"})
    assert isinstance(result, list)
    assert [d.code for d in result] == ["format", "required", "required", "required"]
    assert error_message(result) == MESSAGES[("entity", "format")]


def test_detail_to_dict_is_the_api_shape():
    detail = Detail("profile.revenue", "range", "profile.revenue must be between 1 and 10000000000")
    assert detail.to_dict() == {
        "field": "profile.revenue",
        "code": "range",
        "message": "profile.revenue must be between 1 and 10000000000",
    }
    assert list(detail.to_dict()) == ["field", "code", "message"]


# ---------------------------------------------------------------- DOMAIN.md's final check


def test_domain_md_final_check_seven_details_in_order():
    text = (
        '{"profile": {"entity":"Acme Inc","state":"ca","line":"eo","revenue":12000000.5,'
        '"naics":"999999","loss_ratio":0.12345,"foo":1}, "pool": "carriers:all"}'
    )
    result = validate_text(text)
    assert triples(result) == [
        ("profile.entity", "format", MESSAGES[("entity", "format")]),
        ("profile.foo", "unknown_field", "profile.foo is not a recognized field"),
        ("profile.line", "enum", MESSAGES[("line", "enum")]),
        ("profile.loss_ratio", "format", "profile.loss_ratio must have at most 4 decimal places"),
        ("profile.naics", "format", MESSAGES[("naics", "format")]),
        ("profile.revenue", "type", "profile.revenue must be an integer"),
        ("profile.state", "enum", MESSAGES[("state", "enum")]),
    ]
    assert isinstance(result, list)
    assert error_message(result) == MESSAGES[("entity", "format")]


# ---------------------------------------------------------------- parse_json_body


def test_number_literals_keep_their_kind():
    value = parse_json_body(b'{"i": 12000000, "f": 12000000.0, "e": 1.2e7, "b": true, "n": null}')
    assert value == {
        "i": 12000000,
        "f": Decimal("12000000.0"),
        "e": Decimal("1.2e7"),
        "b": True,
        "n": None,
    }
    assert isinstance(value, dict)
    assert type(value["i"]) is int
    assert str(value["f"]) == "12000000.0"
    assert type(value["b"]) is bool


def test_valid_utf8_and_escaped_surrogate_pairs_are_accepted():
    assert parse_json_body('{"a": "é😀"}'.encode()) == {"a": "é😀"}
    assert parse_json_body(b'{"a": "\\ud83d\\ude00"}') == {"a": "😀"}
    assert parse_json_body(b" \r\n\t[1] ") == [1]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b'{"a": 1,}',
        b"{'a': 1}",
        b'{"a": 1} x',
        b'{"a": 1}{}',
        b"\xef\xbb\xbf{}",  # BOM
        b'{"a": "\xff"}',  # invalid UTF-8
        b'{"a": "\xed\xa0\x80"}',  # UTF-8-encoded surrogate
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": "\\ud800"}',  # lone surrogate escape in a value
        b'{"\\udfff": 1}',  # ... and in a key
        b'{"a": "x\x01"}',  # raw control character
        b"[" * 100_000 + b"]" * 100_000,  # too deep
        b"1" + b"0" * 5000,  # beyond Python's int digit limit
        b"1e999999999999999999999",  # beyond Decimal's exponent range
        b"\x00",
    ],
    ids=lambda raw: repr(raw[:20]),
)
def test_malformed_bodies_raise_body_error_and_nothing_else(raw: bytes):
    with pytest.raises(BodyError) as caught:
        parse_json_body(raw)
    assert str(caught.value) == "Request body is not valid JSON"


def test_body_error_is_one_of_our_errors():
    from nexio_lite.errors import NexioError

    assert issubclass(BodyError, NexioError)


# ---------------------------------------------------------------- results: records and stored form


def test_seed_body_gives_the_seed_profile_with_defaults():
    result = validate_request(parse_json_body(json.dumps(SEED_BODY).encode()))
    assert isinstance(result, ValidatedRequest)
    assert result.profile == Profile(
        entity="acme-manufacturing",
        state="CA",
        line="professional_liability",
        revenue=12000000,
        naics=None,
        requested_limit=1_000_000,
        admitted_only=False,
        min_am_best="B+",
        defaults_applied=("admitted_only", "min_am_best", "requested_limit"),
    )
    assert result.pool == "carriers:all"
    assert result.webhook_url is None
    assert result.options == Options()
    assert result.normalized == SEED_BODY


def full_body_text(
    naics: str = '"541511"', options: str = '{"limit": 5, "as_of": "2025-07-01"}'
) -> str:
    """Every profile field set (keys deliberately out of table order), plus webhook and
    options."""
    return body_text(
        {
            "effective_date": '"2025-09-01"',
            "min_am_best": '"A-"',
            "loss_ratio": "0.10000",
            "naics": naics,
            "claims_3yr": "2",
            "admitted_only": "true",
            "employees": "40",
            "years_in_business": "12",
            "requested_limit": "2000000",
        },
        f', "options": {options}, "webhook_url": "https://h.example/x", "pool": "carriers:all"',
    )


def test_full_profile_is_parsed_with_no_defaults():
    result = validate_text(full_body_text())
    assert isinstance(result, ValidatedRequest)
    assert result.profile == Profile(
        entity="acme-manufacturing",
        state="CA",
        line="professional_liability",
        revenue=12000000,
        naics="541511",
        employees=40,
        years_in_business=12,
        loss_ratio_bp=1000,
        claims_3yr=2,
        requested_limit=2000000,
        effective_date=dt.date(2025, 9, 1),
        admitted_only=True,
        min_am_best="A-",
        defaults_applied=(),
    )
    assert result.options == Options(as_of=dt.date(2025, 7, 1), limit=5)
    assert result.webhook_url == "https://h.example/x"


def test_normalized_form_is_canonical_json_with_loss_ratio_as_decimal_text():
    result = validate_text(full_body_text(naics="null", options='{"limit": null}'))
    assert isinstance(result, ValidatedRequest)
    normalized = result.normalized
    assert list(normalized) == ["profile", "pool", "webhook_url"]  # empty options dropped
    assert list(normalized["profile"]) == [
        "entity",
        "state",
        "line",
        "revenue",
        "employees",
        "years_in_business",
        "loss_ratio",
        "claims_3yr",
        "requested_limit",
        "effective_date",
        "admitted_only",
        "min_am_best",
    ]
    assert normalized["profile"]["loss_ratio"] == "0.10000"
    json.dumps(normalized)  # JSON-ready, no Decimal left


@pytest.mark.parametrize("use_decimal", [True, False])
def test_normalized_form_round_trips_through_json_to_the_same_request(use_decimal: bool):
    result = validate_text(full_body_text())
    assert isinstance(result, ValidatedRequest)
    stored = json.dumps(result.normalized)
    reloaded = json.loads(stored, parse_float=Decimal) if use_decimal else json.loads(stored)
    assert load_request(reloaded) == result


def test_key_order_of_the_body_does_not_change_the_normalized_form():
    a = validate_text(
        '{"pool": "p", "profile": {"revenue": 5, "line": "cyber", "state": "NY", "entity": "e"}}'
    )
    b = validate_text(
        '{"profile": {"entity": "e", "state": "NY", "line": "cyber", "revenue": 5}, "pool": "p"}'
    )
    assert isinstance(a, ValidatedRequest)
    assert isinstance(b, ValidatedRequest)
    assert json.dumps(a.normalized) == json.dumps(b.normalized)


@pytest.mark.parametrize(
    ("stored", "bp"),
    [
        (0, 0),
        (1, 10000),
        (10, 100000),
        (Decimal("0.45"), 4500),
        (Decimal("0.10000"), 1000),
        (Decimal("4.5E-1"), 4500),
        (Decimal("1e1"), 100000),
        ("0.45", 4500),
        ("0.0001", 1),
        (0.45, 4500),
        (0.0001, 1),
        (9.9999, 99999),
        (Decimal("0.00005"), 1),  # round half up (never reached after validation)
        (Decimal("0.000049"), 0),
        (Decimal("0.00015"), 2),
    ],
)
def test_parse_profile_loss_ratio_bp(stored: object, bp: int):
    profile = parse_profile({**SEED_PROFILE, "loss_ratio": stored})
    assert profile.loss_ratio_bp == bp


def test_parse_profile_applies_only_the_three_defaults():
    profile = parse_profile({**SEED_PROFILE, "min_am_best": "A", "naics": None})
    assert profile.defaults_applied == ("admitted_only", "requested_limit")
    assert profile.min_am_best == "A"
    assert profile.naics is None
    assert profile.requested_limit == 1_000_000
    assert profile.admitted_only is False


def test_profile_to_dict_has_every_field_in_table_order():
    profile = parse_profile(
        {**SEED_PROFILE, "loss_ratio": Decimal("0.45"), "effective_date": "2025-09-01"}
    )
    rendered = profile_to_dict(profile)
    assert rendered == {
        "entity": "acme-manufacturing",
        "state": "CA",
        "line": "professional_liability",
        "revenue": 12000000,
        "naics": None,
        "employees": None,
        "years_in_business": None,
        "loss_ratio": 0.45,
        "claims_3yr": None,
        "requested_limit": 1000000,
        "effective_date": "2025-09-01",
        "admitted_only": False,
        "min_am_best": "B+",
    }
    assert list(rendered) == [
        "entity",
        "state",
        "line",
        "revenue",
        "naics",
        "employees",
        "years_in_business",
        "loss_ratio",
        "claims_3yr",
        "requested_limit",
        "effective_date",
        "admitted_only",
        "min_am_best",
    ]
    assert json.dumps(rendered["loss_ratio"]) == "0.45"


@pytest.mark.parametrize(
    ("bp", "text"),
    [(0, "0.0"), (1, "0.0001"), (1234, "0.1234"), (99999, "9.9999"), (100000, "10.0")],
)
def test_profile_to_dict_loss_ratio_is_the_exact_decimal_as_json(bp: int, text: str):
    rendered = profile_to_dict(Profile("e", "CA", "cyber", 1, loss_ratio_bp=bp))
    assert json.dumps(rendered["loss_ratio"]) == text
    assert Decimal(json.dumps(rendered["loss_ratio"])) * 10000 == bp


def test_profile_to_dict_absent_loss_ratio_is_null():
    assert profile_to_dict(parse_profile(SEED_PROFILE))["loss_ratio"] is None
