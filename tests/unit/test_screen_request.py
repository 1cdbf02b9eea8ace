"""The body of `POST /api/v1/analysis/screen`: every field check, its code and exact message,
the ordering of details, nulls, defaults and the stored form.

Expected messages are written out here from the specification, not imported, so that a
change on either side shows up.
"""

from __future__ import annotations

import pytest

from nexio_lite.validation import BodyError, Detail, error_message, parse_json_body
from nexio_lite.verticals.screen.request import (
    ScreenContext,
    ScreenRequest,
    load_screen_request,
    unknown_rulebook_message,
    validate_screen_request,
)

STATE_MESSAGE = (
    "context.state must be a two-letter uppercase USPS code for one of the 50 states or DC"
)
LINE_MESSAGE = (
    "context.line must be one of: bop, commercial_auto, cyber, directors_officers, "
    "general_liability, professional_liability, property, umbrella, workers_comp"
)
MARKET_MESSAGE = "context.market must be one of: admitted, surplus"
DOCUMENT_MESSAGE = "context.document must be one of: marketing, other, proposal, quote"


def details_of(body: object) -> list[tuple[str, str, str]]:
    result = validate_screen_request(body)
    assert isinstance(result, list), result
    return [(d.field, d.code, d.message) for d in result]


def valid(body: object) -> ScreenRequest:
    result = validate_screen_request(body)
    assert isinstance(result, ScreenRequest), result
    return result


# ---------------------------------------------------------------- valid bodies and defaults


def test_content_alone_takes_every_default() -> None:
    request = valid({"content": "Quote for Acme."})
    assert request.content == "Quote for Acme."
    assert request.context == ScreenContext(None, None, None, "other")
    assert request.rulebook == "rules:default"
    assert request.webhook_url is None
    assert request.normalized == {"content": "Quote for Acme.", "rulebook": "rules:default"}


def test_every_field_given_is_kept_and_normalized_in_canonical_order() -> None:
    body = {
        "webhook_url": "https://example.com/hook",
        "rulebook": "acme:v2",
        "context": {"document": "quote", "market": "surplus", "line": "cyber", "state": "TX"},
        "content": "text",
    }
    request = valid(body)
    assert request.context == ScreenContext("TX", "cyber", "surplus", "quote")
    assert request.rulebook == "acme:v2"
    assert request.webhook_url == "https://example.com/hook"
    assert list(request.normalized) == ["content", "context", "rulebook", "webhook_url"]
    assert list(request.normalized["context"]) == ["state", "line", "market", "document"]


def test_null_fields_other_than_content_count_as_absent() -> None:
    request = valid(
        {
            "content": "x",
            "context": {"state": None, "line": None, "market": None, "document": None},
            "rulebook": None,
            "webhook_url": None,
        }
    )
    assert request.context == ScreenContext()
    assert request.rulebook == "rules:default"
    assert request.normalized == {"content": "x", "rulebook": "rules:default"}
    assert valid({"content": "x", "context": None}).context == ScreenContext()


def test_trace_context_lists_the_given_fields_then_document_always() -> None:
    assert valid({"content": "x"}).context.to_dict() == {"document": "other"}
    request = valid({"content": "x", "context": {"market": "admitted", "state": "CA"}})
    assert request.context.to_dict() == {"state": "CA", "market": "admitted", "document": "other"}


def test_stored_form_reloads_to_the_same_request() -> None:
    request = valid(
        {"content": "é text", "context": {"state": "NY", "document": "marketing"}, "rulebook": "b"}
    )
    assert load_screen_request(request.normalized) == request


@pytest.mark.parametrize(
    "content",
    ["x", "x" * 65_536, "é" * 65_536, "\U0001f600" * 65_536],
    ids=["one", "max-ascii", "max-latin", "max-astral"],
)
def test_content_length_is_counted_in_code_points(content: str) -> None:
    assert valid({"content": content}).content == content


def test_rulebook_of_128_characters_is_accepted() -> None:
    assert valid({"content": "x", "rulebook": "r" * 128}).rulebook == "r" * 128


# ---------------------------------------------------------------- one problem each


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ("content", "required", "content is required")),
        ({"content": None}, ("content", "required", "content is required")),
        ({"content": 5}, ("content", "type", "content must be a string")),
        ({"content": ["x"]}, ("content", "type", "content must be a string")),
        ({"content": True}, ("content", "type", "content must be a string")),
        ({"content": ""}, ("content", "format", "content must be 1-65536 characters")),
        ({"content": "x" * 65_537}, ("content", "format", "content must be 1-65536 characters")),
        ({"content": "x", "context": []}, ("context", "type", "context must be an object")),
        ({"content": "x", "context": "TX"}, ("context", "type", "context must be an object")),
        ({"content": "x", "context": {"state": "tx"}}, ("context.state", "enum", STATE_MESSAGE)),
        ({"content": "x", "context": {"state": "PR"}}, ("context.state", "enum", STATE_MESSAGE)),
        ({"content": "x", "context": {"line": "auto"}}, ("context.line", "enum", LINE_MESSAGE)),
        (
            {"content": "x", "context": {"market": "excess"}},
            ("context.market", "enum", MARKET_MESSAGE),
        ),
        (
            {"content": "x", "context": {"document": "email"}},
            ("context.document", "enum", DOCUMENT_MESSAGE),
        ),
        (
            {"content": "x", "context": {"state": 5}},
            ("context.state", "type", "context.state must be a string"),
        ),
        (
            {"content": "x", "context": {"line": ["cyber"]}},
            ("context.line", "type", "context.line must be a string"),
        ),
        (
            {"content": "x", "context": {"market": True}},
            ("context.market", "type", "context.market must be a string"),
        ),
        (
            {"content": "x", "context": {"document": {}}},
            ("context.document", "type", "context.document must be a string"),
        ),
        (
            {"content": "x", "context": {"industry": "retail"}},
            ("context.industry", "unknown_field", "context.industry is not a recognized field"),
        ),
        (
            {"content": "x", "context": {"industry": None}},
            ("context.industry", "unknown_field", "context.industry is not a recognized field"),
        ),
        ({"content": "x", "rulebook": 7}, ("rulebook", "type", "rulebook must be a string")),
        (
            {"content": "x", "rulebook": ""},
            ("rulebook", "format", "rulebook must be 1-128 characters"),
        ),
        (
            {"content": "x", "rulebook": "r" * 129},
            ("rulebook", "format", "rulebook must be 1-128 characters"),
        ),
        (
            {"content": "x", "webhook_url": 1},
            ("webhook_url", "type", "webhook_url must be a string"),
        ),
        (
            {"content": "x", "pool": "carriers:all"},
            ("pool", "unknown_field", "pool is not a recognized field"),
        ),
        (
            {"content": "x", "options": None},
            ("options", "unknown_field", "options is not a recognized field"),
        ),
    ],
)
def test_each_problem_has_its_field_code_and_message(
    body: dict[str, object], expected: tuple[str, str, str]
) -> None:
    assert details_of(body) == [expected]


def test_every_problem_is_reported_at_once_sorted_by_field_then_code() -> None:
    body = {
        "zeta": 1,
        "webhook_url": 1,
        "rulebook": "",
        "context": {"state": "x", "zz": 1, "document": 3, "market": "surplus"},
        "content": 5,
        "alpha": None,
    }
    assert details_of(body) == [
        ("alpha", "unknown_field", "alpha is not a recognized field"),
        ("content", "type", "content must be a string"),
        ("context.document", "type", "context.document must be a string"),
        ("context.state", "enum", STATE_MESSAGE),
        ("context.zz", "unknown_field", "context.zz is not a recognized field"),
        ("rulebook", "format", "rulebook must be 1-128 characters"),
        ("webhook_url", "type", "webhook_url must be a string"),
        ("zeta", "unknown_field", "zeta is not a recognized field"),
    ]


def test_message_names_the_missing_field_when_the_first_detail_is_required() -> None:
    result = validate_screen_request({"context": {"state": "xx"}})
    assert isinstance(result, list)
    assert [d.code for d in result] == ["required", "enum"]
    assert error_message(result) == "Missing required field: content"


def test_message_is_the_first_detail_otherwise() -> None:
    result = validate_screen_request({"content": "x", "context": {"market": "excess"}})
    assert result == [Detail("context.market", "enum", MARKET_MESSAGE)]
    assert error_message(result) == MARKET_MESSAGE


@pytest.mark.parametrize("body", [[], "text", 5, None])
def test_a_body_that_is_not_an_object_is_refused_whole(body: object) -> None:
    with pytest.raises(BodyError, match="Request body must be a JSON object"):
        validate_screen_request(body)


def test_bodies_from_json_text_go_through_the_shared_parser() -> None:
    body = parse_json_body(b'{"content": "Fee:\\u00a0$100", "context": {"document": "quote"}}')
    assert valid(body).content == "Fee:\u00a0$100"


def test_unknown_rulebook_message() -> None:
    assert unknown_rulebook_message("acme:x") == "Rulebook 'acme:x' not found for your organization"
