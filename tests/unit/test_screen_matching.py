"""Matching: folding, whitespace runs, word boundaries on each side, first phrase wins, no
overlaps, offsets in code points. Every expectation is counted by hand on the content."""

from __future__ import annotations

import re
import sys

import pytest

from nexio_lite.verticals.screen.matching import (
    EVIDENCE_LIMIT,
    Occurrence,
    find_occurrences,
    fold,
)


def spans(content: str, phrases: list[str]) -> list[tuple[str, int, int]]:
    found = find_occurrences(content, phrases, limit=1000)
    assert found.count == len(found.first)
    return [(o.text, o.start_offset, o.end_offset) for o in found.first]


# ---------------------------------------------------------------- folding


def test_fold_changes_only_ascii_capitals() -> None:
    assert fold("ABC xyz") == "abc xyz"
    text = "ÉTÉ İſ\u212a ÀB Σ ß"
    assert fold(text) == "ÉtÉ İſ\u212a Àb Σ ß"
    assert len(fold(text)) == len(text)


def test_capitals_in_content_and_phrase_fold_to_each_other() -> None:
    assert spans("Ask for the SSN, sSn or ssn.", ["ssn"]) == [
        ("SSN", 12, 15),
        ("sSn", 17, 20),
        ("ssn", 24, 27),
    ]
    assert spans("rated by am BEST", ["AM Best"]) == [("am BEST", 9, 16)]


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("caf\u00e9", "cafe"),  # é is not e
        ("\u017fsn", "ssn"),  # long s is not s
        ("\u212aelvin", "kelvin"),  # the Kelvin sign is not k
        ("\u0130s not", "is not"),  # capital I with dot above is not i
    ],
)
def test_no_character_but_a_to_z_is_folded(content: str, phrase: str) -> None:
    assert spans(content, [phrase]) == []


def test_text_is_not_nfc_normalized() -> None:
    # e + U+0301 stays two code points, and U+0301 is not a letter or digit: "cafe" ends
    # at a boundary and matches. Normalized to NFC ("caf\u00e9") it would not.
    assert spans("cafe\u0301 e", ["cafe"]) == [("cafe", 0, 4)]
    assert spans("caf\u00e9 e", ["cafe"]) == []


# ---------------------------------------------------------------- whitespace runs


def test_a_space_of_the_phrase_takes_a_whole_run_of_whitespace() -> None:
    content = "surplus \t\n\u00a0\u2003\u3000\x1c lines"
    assert spans(content, ["surplus lines"]) == [(content, 0, len(content))]
    assert len(content) == 7 + 8 + 5


def test_the_published_no_break_space_example() -> None:
    content = "We place with a surplus\u00a0 lines carrier."
    assert spans(content, ["surplus lines"]) == [("surplus\u00a0 lines", 16, 30)]


@pytest.mark.parametrize("between", ["", "\u200b", "\u180e", "\ufeff", "-", "_"])
def test_a_space_needs_at_least_one_whitespace_character(between: str) -> None:
    assert spans(f"surplus{between}lines", ["surplus lines"]) == []


def test_whitespace_inside_a_word_of_the_phrase_does_not_match() -> None:
    assert spans("sur plus lines", ["surplus lines"]) == []


def test_whitespace_class_is_exactly_str_isspace() -> None:
    pattern = re.compile(r"\s")
    differ = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if (pattern.match(chr(cp)) is not None) != chr(cp).isspace()
    ]
    assert differ == []


def test_alphanumeric_class_is_exactly_str_isalnum() -> None:
    pattern = re.compile(r"[^\W_]")
    differ = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if (pattern.match(chr(cp)) is not None) != chr(cp).isalnum()
    ]
    assert differ == []


# ---------------------------------------------------------------- word boundaries


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("ASSN.", []),
        ("xssn", []),
        ("1ssn", []),
        ("éssn", []),
        ("\u0663ssn", []),  # ARABIC-INDIC DIGIT THREE is a digit
        ("_ssn", [("ssn", 1, 4)]),  # underscore is not a letter or digit
        ("-ssn", [("ssn", 1, 4)]),
        ("\u2019ssn", [("ssn", 1, 4)]),
        ("ssn", [("ssn", 0, 3)]),  # nothing before, nothing after
    ],
)
def test_boundary_before_a_phrase_that_begins_with_a_letter_or_digit(
    content: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(content, ["ssn"]) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("ssnx", []),
        ("ssn2", []),
        ("ssné", []),
        ("ssn_", [("ssn", 0, 3)]),
        ("ssn.", [("ssn", 0, 3)]),
        ("ssn ", [("ssn", 0, 3)]),
    ],
)
def test_boundary_after_a_phrase_that_ends_with_a_letter_or_digit(
    content: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(content, ["ssn"]) == expected


def test_no_boundary_after_a_phrase_that_ends_with_punctuation() -> None:
    assert spans("A fee of $500 applies", ["fee of $"]) == [("fee of $", 2, 10)]
    assert spans("Fee:\u00a0$100", ["fee: $"]) == [("Fee:\u00a0$", 0, 6)]


def test_no_boundary_before_a_phrase_that_begins_with_punctuation() -> None:
    assert spans("x$5 and 1%off", ["$5", "%off"]) == [("$5", 1, 3), ("%off", 9, 13)]


def test_boundary_is_checked_on_the_character_just_before_even_inside_a_word() -> None:
    assert spans("nonadmitted non-admitted", ["admitted"]) == [("admitted", 16, 24)]


def test_punctuation_inside_a_phrase_is_literal() -> None:
    content = "Driver's License Number and driver’s license number; A.M. Best's view"
    assert spans(content, ["driver's license number", "a.m. best"]) == [
        ("Driver's License Number", 0, 23),
        ("A.M. Best", 53, 62),
    ]


# ---------------------------------------------------------------- the scan


def test_first_phrase_of_the_list_wins_at_a_position() -> None:
    assert spans("as of today", ["as", "as of"]) == [("as", 0, 2)]
    assert spans("as of today", ["as of", "as"]) == [("as of", 0, 5)]


def test_a_phrase_failing_its_boundary_gives_way_to_the_next() -> None:
    assert spans("abc", ["ab", "abc"]) == [("abc", 0, 3)]


def test_occurrences_do_not_overlap_within_a_list() -> None:
    assert spans("a-a-a", ["a-a"]) == [("a-a", 0, 3)]
    content = "it is not an admitted insurer"
    assert spans(content, ["is not", "not an admitted insurer"]) == [("is not", 3, 9)]
    assert spans(content, ["not an admitted insurer", "is not"]) == [("is not", 3, 9)]


def test_scan_continues_after_each_occurrence() -> None:
    assert spans("ssn ssn\nSSN", ["ssn"]) == [("ssn", 0, 3), ("ssn", 4, 7), ("SSN", 8, 11)]


def test_the_scan_moves_one_position_on_where_nothing_matches() -> None:
    assert spans("xas as", ["as"]) == [("as", 4, 6)]


def test_offsets_are_code_points_of_the_original_content() -> None:
    content = "\U0001f600 \u0130\u0130 \u00dcn\u00efc\u00f6d\u00e9 \u2014 SSN"
    assert spans(content, ["ssn"]) == [("SSN", 15, 18)]
    assert content[15:18] == "SSN"


def test_a_text_is_quoted_as_written() -> None:
    assert spans("CASH  Back!", ["cash back"]) == [("CASH  Back", 0, 10)]


def test_only_the_first_twenty_are_kept_but_all_are_counted() -> None:
    content = " ".join(["rebate"] * 25)
    found = find_occurrences(content, ["rebate"])
    assert found.count == 25
    assert len(found.first) == EVIDENCE_LIMIT == 20
    assert found.first[-1] == Occurrence("rebate", 19 * 7, 19 * 7 + 6)


def test_an_empty_phrase_list_never_occurs() -> None:
    assert find_occurrences("anything", []).count == 0


def test_folded_text_given_by_the_caller_is_used() -> None:
    content = "SSN"
    assert find_occurrences(content, ["ssn"], folded=fold(content)).count == 1
