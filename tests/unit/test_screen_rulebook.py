"""Rule books: the model rule book and its sha256, canonical JSON, paragraphs, and import
checks that report every problem with its JSON path and accept nothing partially."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from nexio_lite.verticals.screen.model import model_rulebook, model_rulebook_json
from nexio_lite.verticals.screen.rulebook import (
    Cite,
    Paragraph,
    RulebookError,
    canonical_json,
    split_paragraphs,
)
from nexio_lite.verticals.screen.rulebook_checks import load_rulebook, rulebook_from_obj

MODEL_SHA256 = "00432567372ae58e6329b20cf48c307b1af4bac22549b8a15dd92bcd3ab7c0b6"

MD2_PARAGRAPHS = (
    "No document promises that coverage will be accepted, approved or free of exclusions "
    "before an insurer has agreed in writing.",
    "No document says that coverage is bound or in force until the insurer or its authorized "
    "agent has bound it.",
    "A financial strength rating is shown with the name of the rating agency and the date of "
    "the rating.",
    "Comparative claims about price or coverage are supported by a stated basis of comparison.",
)


def model_obj() -> dict[str, Any]:
    return json.loads(model_rulebook_json())


def problems_of(obj: Any) -> list[tuple[str, str]]:
    with pytest.raises(RulebookError) as info:
        rulebook_from_obj(obj)
    return [(p.path, p.message) for p in info.value.problems]


def small_book(**rule_changes: Any) -> dict[str, Any]:
    """One regulation (two paragraphs) and one valid rule, with `rule_changes` applied."""
    rule = {
        "id": "R1",
        "priority": "p2",
        "title": "t",
        "details": "d",
        "kind": "forbidden",
        "phrases": ["rebate"],
        "states": ["*"],
        "markets": ["*"],
        "documents": ["*"],
        "cites": [{"regulation": "REG.1", "paragraph": 2}],
    }
    rule.update(rule_changes)
    return {
        "regulations": [
            {
                "id": "REG.1",
                "category": "c",
                "title": "t",
                "description": "d",
                "source_url": "urn:x",
                "authorities": [],
                "jurisdictions": ["us"],
                "updated_at": "2025-01-31T23:59:59Z",
                "text": "one\n\ntwo",
            }
        ],
        "rules": [rule],
    }


# ---------------------------------------------------------------- the model rule book


def test_model_rulebook_sha256_is_the_published_one() -> None:
    assert model_rulebook().sha256 == MODEL_SHA256


def test_model_rulebook_sha256_is_over_the_canonical_json_of_the_file() -> None:
    canonical = json.dumps(
        model_obj(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert hashlib.sha256(canonical).hexdigest() == MODEL_SHA256
    assert model_rulebook().canonical == canonical


def test_model_rulebook_reloads_from_its_canonical_form() -> None:
    again = load_rulebook(model_rulebook().canonical)
    assert again == model_rulebook()
    assert again.sha256 == MODEL_SHA256


def test_model_rulebook_has_five_regulations_and_ten_rules_in_order() -> None:
    book = model_rulebook()
    assert [r.id for r in book.regulations] == ["MD-1", "MD-2", "MD-3", "MD-4", "MD-5"]
    assert [len(r.paragraphs) for r in book.regulations] == [3, 4, 1, 1, 1]
    assert [r.id for r in book.rules] == [f"S{n:02d}" for n in range(1, 11)]
    priorities = ["p1", "p1", "p2", "p1", "p2", "p2", "p2", "p3", "p3", "p3"]
    assert [r.priority for r in book.rules] == priorities
    assert [p.text for p in book.regulation("MD-2").paragraphs] == list(MD2_PARAGRAPHS)


def test_model_rulebook_objects_have_exactly_the_keys_of_a_rule_book() -> None:
    obj = model_obj()
    assert list(obj) == ["regulations", "rules"]
    for regulation in obj["regulations"]:
        assert len(regulation) == 9
        assert regulation["authorities"] == ["nexio-model"]
        assert regulation["jurisdictions"] == ["us-model"]
        assert regulation["updated_at"] == "2025-06-30T00:00:00Z"
        assert regulation["source_url"] == f"urn:nexio:model:{regulation['id']}"
        assert "\n" not in regulation["text"].replace("\n\n", "")
    for rule in obj["rules"]:
        assert len(rule) == 11
        assert rule["states"] == ["*"]
        assert len(rule["cites"]) == 1


def test_model_rule_s08_reads_as_in_the_table() -> None:
    s08 = model_rulebook().rules[7]
    assert (s08.id, s08.priority, s08.kind) == ("S08", "p3", "required")
    assert s08.trigger == ("broker fee", "policy fee")
    assert s08.phrases == ("fee of $", "fee is $", "fee: $")
    assert (s08.markets, s08.documents) == (("*",), ("*",))
    assert s08.cites == (Cite("MD-5", 1),)


# ---------------------------------------------------------------- canonical form, paragraphs


def test_canonical_json_sorts_keys_drops_spaces_and_keeps_non_ascii() -> None:
    assert canonical_json({"b": [1, 2], "a": "é\u00a0", "B": {}}) == (
        '{"B":{},"a":"é\u00a0","b":[1,2]}'.encode()
    )


def test_absent_and_empty_trigger_are_both_accepted_but_hash_differently() -> None:
    absent = rulebook_from_obj(small_book())
    empty = rulebook_from_obj(small_book(trigger=[]))
    assert absent.rules[0].trigger == empty.rules[0].trigger == ()
    assert absent.sha256 != empty.sha256
    assert absent.sha256 == hashlib.sha256(canonical_json(small_book())).hexdigest()


def test_an_empty_rule_book_is_valid() -> None:
    book = rulebook_from_obj({"regulations": [], "rules": []})
    assert book.sha256 == hashlib.sha256(b'{"regulations":[],"rules":[]}').hexdigest()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ab\n\ncd", [(1, "ab", 0, 2), (2, "cd", 4, 6)]),
        ("one", [(1, "one", 0, 3)]),
        ("a\nb", [(1, "a\nb", 0, 3)]),
        ("a\n\n\nb", [(1, "a", 0, 1), (2, "\nb", 3, 5)]),
        ("a\n\n\n\nb", [(1, "a", 0, 1), (2, "", 3, 3), (3, "b", 5, 6)]),
        ("a\n\n", [(1, "a", 0, 1), (2, "", 3, 3)]),
        ("é\u00a0ü\n\n\U0001f600x", [(1, "é\u00a0ü", 0, 3), (2, "\U0001f600x", 5, 7)]),
        ("a\r\n\r\nb", [(1, "a\r\n\r\nb", 0, 6)]),
    ],
)
def test_paragraphs_are_the_pieces_between_two_newlines_with_code_point_offsets(
    text: str, expected: list[tuple[int, str, int, int]]
) -> None:
    assert split_paragraphs(text) == tuple(Paragraph(*p) for p in expected)


def test_model_paragraph_offsets() -> None:
    paragraphs = model_rulebook().regulation("MD-2").paragraphs
    starts = [0]
    for text in MD2_PARAGRAPHS[:-1]:
        starts.append(starts[-1] + len(text) + 2)
    assert [(p.start_offset, p.end_offset) for p in paragraphs] == [
        (start, start + len(text)) for start, text in zip(starts, MD2_PARAGRAPHS, strict=True)
    ]
    assert paragraphs[2].to_chunk() == {
        "text": MD2_PARAGRAPHS[2],
        "start_offset": 124 + 2 + 107 + 2,
        "end_offset": 124 + 2 + 107 + 2 + 99,
    }


# ---------------------------------------------------------------- import problems


def test_every_problem_is_reported_with_its_json_path_in_document_order() -> None:
    obj = model_obj()
    regs, rules = obj["regulations"], obj["rules"]
    regs[0]["updated_at"] = "2025-06-30"
    regs[2]["text"] = ""  # MD-3 unusable: S06's citation of it is not reported again
    regs[3]["extra"] = 1
    del regs[4]["source_url"]
    rules[0]["priority"] = "p4"
    rules[1]["phrases"] = []
    rules[2]["phrases"][1] = "is not  licensed"
    rules[3]["trigger"] = ["guarantee"]
    rules[4]["markets"] = ["*", "surplus"]
    rules[5]["states"] = ["CA", "XX"]
    rules[6]["cites"] = [{"regulation": "MD-4", "paragraph": 2}]
    rules[7]["id"] = "S07"
    rules[8]["cites"][0]["regulation"] = "MD-9"
    rules[9]["cites"] = [{"regulation": "MD-2", "paragraph": 5}]
    assert problems_of(obj) == [
        (
            "regulations[0].updated_at",
            "must be an ISO 8601 UTC date-time such as 2025-06-30T00:00:00Z",
        ),
        ("regulations[2].text", "must be 1-20000 characters"),
        ("regulations[3].extra", "is not a recognized key"),
        ("regulations[4].source_url", "is required"),
        ("rules[0].priority", "must be one of: p1, p2, p3"),
        ("rules[1].phrases", "must be a list of 1-50 phrases"),
        (
            "rules[2].phrases[1]",
            "must not begin or end with a space or contain two spaces in a row",
        ),
        ("rules[3].trigger", "must be empty or absent for a forbidden rule"),
        ("rules[4].markets", 'must be ["*"] alone when it holds "*"'),
        (
            "rules[5].states[1]",
            'must be a state code (one of the 50 states or DC, uppercase) or "*"',
        ),
        ("rules[6].cites[0]", "names paragraph 2 of regulation 'MD-4', which has 1 paragraph"),
        ("rules[7].id", "'S07' is already the id of rules[6].id"),
        ("rules[8].cites[0]", "names regulation 'MD-9', which this rule book lacks"),
        ("rules[9].cites[0]", "names paragraph 5 of regulation 'MD-2', which has 4 paragraphs"),
    ]


def test_nothing_is_accepted_when_one_problem_exists() -> None:
    obj = model_obj()
    obj["rules"][9]["cites"][0]["paragraph"] = 9
    with pytest.raises(RulebookError) as info:
        rulebook_from_obj(obj)
    assert str(info.value) == (
        "rules[9].cites[0]: names paragraph 9 of regulation 'MD-2', which has 4 paragraphs"
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([], [("", "a rule book must be a JSON object")]),
        ({"rules": []}, [("regulations", "is required")]),
        ({"regulations": [], "rules": {}}, [("rules", "must be a list")]),
        (
            {"regulations": [], "rules": [], "version": 2},
            [("version", "is not a recognized key")],
        ),
        ({"regulations": [7], "rules": [None]}, [
            ("regulations[0]", "must be an object"),
            ("rules[0]", "must be an object"),
        ]),
    ],
)  # fmt: skip
def test_root_problems(obj: Any, expected: list[tuple[str, str]]) -> None:
    assert problems_of(obj) == expected


def regulation_problem(field: str, value: Any) -> list[tuple[str, str]]:
    book = small_book()
    book["regulations"][0][field] = value
    return problems_of(book)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("id", "REG 1", ("regulations[0].id", "must be 1-64 characters from A-Z, a-z, 0-9, '-', '_' and '.'")),  # noqa: E501
        ("id", "R" * 65, ("regulations[0].id", "must be 1-64 characters from A-Z, a-z, 0-9, '-', '_' and '.'")),  # noqa: E501
        ("id", "", ("regulations[0].id", "must be 1-64 characters from A-Z, a-z, 0-9, '-', '_' and '.'")),  # noqa: E501
        ("category", 3, ("regulations[0].category", "must be a string")),
        ("title", None, ("regulations[0].title", "must be a string")),
        ("description", ["d"], ("regulations[0].description", "must be a string")),
        ("source_url", "urn:\ud800", ("regulations[0].source_url", "must not contain unpaired surrogates")),  # noqa: E501
        ("authorities", "nexio", ("regulations[0].authorities", "must be a list of strings")),
        ("jurisdictions", ["us", 5], ("regulations[0].jurisdictions[1]", "must be a string")),
        ("updated_at", "2025-02-30T00:00:00Z", ("regulations[0].updated_at", "must be an ISO 8601 UTC date-time such as 2025-06-30T00:00:00Z")),  # noqa: E501
        ("updated_at", "2025-06-30T00:00:00+02:00", ("regulations[0].updated_at", "must be an ISO 8601 UTC date-time such as 2025-06-30T00:00:00Z")),  # noqa: E501
        ("text", "x" * 20_001, ("regulations[0].text", "must be 1-20000 characters")),
        ("text", 5, ("regulations[0].text", "must be a string")),
    ],
)  # fmt: skip
def test_regulation_field_problems(field: str, value: Any, expected: tuple[str, str]) -> None:
    problems = regulation_problem(field, value)
    assert problems[0] == expected
    if field in ("id", "text"):  # the rule's citation cannot be checked: not reported twice
        assert len(problems) == (2 if field == "id" else 1)
    else:
        assert len(problems) == 1


def test_regulation_fields_at_their_limits_are_accepted() -> None:
    book = small_book()
    regulation = book["regulations"][0]
    regulation.update(id="a.B-9_" * 10 + "abcd", text="x" * 20_000, category="")
    regulation["updated_at"] = "2025-06-30T12:34:56.123456Z"
    book["rules"][0]["cites"] = [{"regulation": regulation["id"], "paragraph": 1}]
    assert rulebook_from_obj(book).regulations[0].id == regulation["id"]


def test_duplicate_regulation_ids() -> None:
    book = small_book()
    book["regulations"].append(copy.deepcopy(book["regulations"][0]))
    assert problems_of(book) == [
        ("regulations[1].id", "'REG.1' is already the id of regulations[0].id")
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"id": "r1"}, [("rules[0].id", "must be 1-32 characters from A-Z, 0-9 and '_'")]),
        ({"id": "R" * 33}, [("rules[0].id", "must be 1-32 characters from A-Z, 0-9 and '_'")]),
        ({"id": "R-1"}, [("rules[0].id", "must be 1-32 characters from A-Z, 0-9 and '_'")]),
        ({"kind": "banned"}, [("rules[0].kind", "must be one of: forbidden, required")]),
        ({"title": 1, "details": None}, [
            ("rules[0].title", "must be a string"),
            ("rules[0].details", "must be a string"),
        ]),
        ({"phrases": "rebate"}, [("rules[0].phrases", "must be a list of 1-50 phrases")]),
        ({"phrases": ["p"] * 51}, [("rules[0].phrases", "must be a list of 1-50 phrases")]),
        ({"phrases": [""]}, [("rules[0].phrases[0]", "must be 1-100 characters")]),
        ({"phrases": ["x" * 101]}, [("rules[0].phrases[0]", "must be 1-100 characters")]),
        ({"phrases": ["ok", "café"]}, [(
            "rules[0].phrases[1]",
            "contains 'é'; a phrase may contain only ASCII letters, digits, spaces and "
            "- ' & $ % . , / : ;",
        )]),
        ({"phrases": ["tab\there"]}, [(
            "rules[0].phrases[0]",
            "contains '\\t'; a phrase may contain only ASCII letters, digits, spaces and "
            "- ' & $ % . , / : ;",
        )]),
        ({"phrases": [" lead"]}, [("rules[0].phrases[0]", "must not begin or end with a space or contain two spaces in a row")]),  # noqa: E501
        ({"phrases": ["trail "]}, [("rules[0].phrases[0]", "must not begin or end with a space or contain two spaces in a row")]),  # noqa: E501
        ({"phrases": [5]}, [("rules[0].phrases[0]", "must be a string")]),
        ({"kind": "required", "trigger": ["t"] * 51}, [("rules[0].trigger", "must be a list of 0-50 phrases")]),  # noqa: E501
        ({"kind": "required", "trigger": None}, [("rules[0].trigger", "must be a list of 0-50 phrases")]),  # noqa: E501
        ({"trigger": ["fee"]}, [("rules[0].trigger", "must be empty or absent for a forbidden rule")]),  # noqa: E501
        ({"states": []}, [("rules[0].states", 'must be a non-empty list: ["*"] or values')]),
        ({"states": "*"}, [("rules[0].states", 'must be a non-empty list: ["*"] or values')]),
        ({"states": ["CA", "*"]}, [("rules[0].states", 'must be ["*"] alone when it holds "*"')]),
        ({"states": ["ca"]}, [("rules[0].states[0]", 'must be a state code (one of the 50 states or DC, uppercase) or "*"')]),  # noqa: E501
        ({"markets": ["excess"]}, [("rules[0].markets[0]", 'must be one of: admitted, surplus or "*"')]),  # noqa: E501
        ({"documents": ["quote", 1]}, [("rules[0].documents[1]", "must be a string")]),
        ({"documents": ["email"]}, [("rules[0].documents[0]", 'must be one of: marketing, other, proposal, quote or "*"')]),  # noqa: E501
        ({"cites": []}, [("rules[0].cites", "must be a list of 1-5 citations")]),
        ({"cites": [{"regulation": "REG.1", "paragraph": 1}] * 6}, [("rules[0].cites", "must be a list of 1-5 citations")]),  # noqa: E501
        ({"cites": ["REG.1"]}, [("rules[0].cites[0]", "must be an object")]),
        ({"cites": [{"regulation": "REG.1"}]}, [("rules[0].cites[0].paragraph", "is required")]),
        ({"cites": [{"regulation": "REG.1", "paragraph": 1, "note": "x"}]}, [("rules[0].cites[0].note", "is not a recognized key")]),  # noqa: E501
        ({"cites": [{"regulation": 1, "paragraph": 0}]}, [
            ("rules[0].cites[0].regulation", "must be a string"),
            ("rules[0].cites[0].paragraph", "must be an integer from 1"),
        ]),
        ({"cites": [{"regulation": "REG.1", "paragraph": True}]}, [("rules[0].cites[0].paragraph", "must be an integer from 1")]),  # noqa: E501
        ({"cites": [{"regulation": "REG.1", "paragraph": 1.0}]}, [("rules[0].cites[0].paragraph", "must be an integer from 1")]),  # noqa: E501
        ({"cites": [{"regulation": "reg.1", "paragraph": 1}]}, [("rules[0].cites[0]", "names regulation 'reg.1', which this rule book lacks")]),  # noqa: E501
        ({"cites": [{"regulation": "REG.1", "paragraph": 3}]}, [("rules[0].cites[0]", "names paragraph 3 of regulation 'REG.1', which has 2 paragraphs")]),  # noqa: E501
    ],
)  # fmt: skip
def test_rule_problems(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems_of(small_book(**changes)) == expected


def test_missing_rule_keys_are_each_reported() -> None:
    book = small_book()
    for key in ("title", "cites", "kind"):
        del book["rules"][0][key]
    assert problems_of(book) == [
        ("rules[0].title", "is required"),
        ("rules[0].kind", "is required"),
        ("rules[0].cites", "is required"),
    ]


def test_rule_values_at_their_limits_are_accepted() -> None:
    phrase = "Ab 9-'&$%.,/:;" + "x" * 86
    book = small_book(
        id="R_" + "9" * 30,
        kind="required",
        phrases=[phrase] * 50,
        trigger=["t"] * 50,
        states=["DC", "WY"],
        markets=["admitted", "surplus"],
        documents=["other"],
        cites=[{"regulation": "REG.1", "paragraph": 1}] * 5,
    )
    rule = rulebook_from_obj(book).rules[0]
    assert len(phrase) == 100
    assert (len(rule.phrases), len(rule.trigger), len(rule.cites)) == (50, 50, 5)


def test_problems_in_json_text() -> None:
    with pytest.raises(RulebookError) as info:
        load_rulebook(b'{"regulations": [], "rules": [}')
    assert info.value.problems[0].path == ""
    assert str(info.value).startswith("is not valid JSON (")
    with pytest.raises(RulebookError, match="is not UTF-8 text"):
        load_rulebook(b'{"regulations": [], "rules": ["\xff"]}')
    with pytest.raises(RulebookError, match="is not valid JSON"):
        load_rulebook(b'{"regulations": [], "rules": [NaN]}')


def test_duplicate_keys_in_json_text_are_problems() -> None:
    text = json.dumps(small_book())[:-1] + ', "rules": []}'
    with pytest.raises(RulebookError) as info:
        load_rulebook(text)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("rules", "appears more than once")
    ]
    text = '{"regulations": [{"id": "A", "id": "B"}], "rules": []}'
    with pytest.raises(RulebookError) as info:
        load_rulebook(text)
    assert info.value.problems[0].path == "regulations[0].id"
    assert info.value.problems[0].message == "appears more than once"


def test_json_text_with_a_byte_order_mark_is_read() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(small_book()).encode()
    assert load_rulebook(data).sha256 == rulebook_from_obj(small_book()).sha256
