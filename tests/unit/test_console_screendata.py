"""`highlight`, which cuts a screened text into plain and marked pieces for the console:
the pieces give the text back, every span edge is a cut, and where evidence of several
findings overlaps, each piece names every finding covering it and the most serious
priority."""

from __future__ import annotations

from nexio_lite.console.screendata import Span, highlight


def _view(content: str, spans: list[Span]) -> list[tuple[str, int, tuple[str, ...], str]]:
    pieces = highlight(content, spans)
    assert "".join(p.text for p in pieces) == content
    assert all(content[p.start : p.end] == p.text for p in pieces)
    return [(p.text, p.start, p.rules, p.priority) for p in pieces]


def test_plain_text_is_one_piece_and_empty_text_none() -> None:
    assert _view("nothing here", []) == [("nothing here", 0, (), "")]
    assert _view("", []) == []


def test_adjacent_spans_stay_separate_marks() -> None:
    spans = [Span(0, 3, "A", "p2"), Span(3, 6, "A", "p2")]
    assert _view("abcdef!", spans) == [
        ("abc", 0, ("A",), "p2"),
        ("def", 3, ("A",), "p2"),
        ("!", 6, (), ""),
    ]


def test_overlapping_evidence_names_every_finding_and_the_most_serious_priority() -> None:
    spans = [Span(2, 5, "S10", "p3"), Span(4, 8, "S04", "p1")]
    assert _view("0123456789", spans) == [
        ("01", 0, (), ""),
        ("23", 2, ("S10",), "p3"),
        ("4", 4, ("S10", "S04"), "p1"),
        ("567", 5, ("S04",), "p1"),
        ("89", 8, (), ""),
    ]


def test_offsets_are_code_points_and_spans_outside_the_text_are_ignored() -> None:
    content = "é🙂 SSN"
    spans = [Span(3, 6, "S07", "p2"), Span(5, 9, "X", "p1"), Span(2, 2, "Y", "p1")]
    assert _view(content, spans) == [("é🙂 ", 0, (), ""), ("SSN", 3, ("S07",), "p2")]
