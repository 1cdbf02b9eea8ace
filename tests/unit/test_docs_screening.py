"""docs/screening.md stays true to the engine: the sample rule book imports (with the
sha256 the page gives), the worked example's findings and risk score are what `screen`
returns, the matching examples and the risk-score table hold, the table of the model
rule book matches `rules_default.json`, and the import errors shown are the ones made."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from nexio_lite.admin import rulebook_report
from nexio_lite.verticals.screen import (
    RulebookError,
    find_occurrences,
    load_rulebook,
    load_screen_request,
    model_rulebook,
    risk_score,
    screen,
)

from .test_docs import DOCS, marked_block

PAGE = DOCS / "screening.md"
SAMPLE = DOCS / "examples" / "rulebook-sample.json"


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _result(content: str, context: dict[str, str] | None = None) -> dict[str, Any]:
    normalized: dict[str, Any] = {"content": content, "rulebook": "rules:default"}
    if context:
        normalized["context"] = context
    result: dict[str, Any] = screen(load_screen_request(normalized), model_rulebook()).result
    return result


def test_the_sample_rule_book_loads_and_has_the_sha256_the_page_gives() -> None:
    book = load_rulebook(SAMPLE.read_bytes())
    assert [r.id for r in book.rules] == ["A01", "A02", "A03"]
    assert [r.id for r in book.regulations] == ["AGENCY-1", "AGENCY-2"]
    page = _page()
    assert f"sha256 {book.sha256}" in page
    assert f"# rules:agency  1  3  2  {book.sha256}" in page
    assert "[docs/examples/rulebook-sample.json](examples/rulebook-sample.json)" in page


def test_the_model_rule_book_sha256_on_the_page_is_the_shipped_one() -> None:
    assert f"`{model_rulebook().sha256}`" in _page()


def test_the_worked_example_gives_the_findings_and_score_the_page_shows() -> None:
    request = json.loads(marked_block(PAGE, "screen-request"))
    assert request == {
        "content": "Guaranteed approval for every applicant.",
        "context": {"market": "surplus", "document": "quote"},
    }
    result = _result(request["content"], request["context"])
    shown = {
        "risk_score": result["risk_score"],
        "counts": result["counts"],
        "findings": [
            {key: f[key] for key in ("rule_id", "priority", "evidence_count", "evidence")}
            for f in result["findings"]
        ],
    }
    assert json.loads(marked_block(PAGE, "screen-result")) == shown
    assert [f["rule_id"] for f in result["findings"]] == ["S04", "S01", "S02"]
    assert result["risk_score"] == 98
    page = _page()
    assert "floor((200 × 984,375 + 1,000,000) / 2,000,000) = floor(98.9375) = **98**" in page
    assert "starting at 40, the text's length" in page
    assert len(request["content"]) == 40
    # Without a context: S04 alone, 75.
    alone = _result(request["content"])
    assert [f["rule_id"] for f in alone["findings"]] == ["S04"]
    assert alone["risk_score"] == 75
    assert "the S04 finding alone and a risk score of\n75" in page
    # The finding shown in full under "Findings and their order" is S04's, as returned.
    shown_finding = json.loads(re.findall(r"```json\n(\{\"rule_id\".*?)\n```", page, re.S)[0])
    assert shown_finding == result["findings"][0]


# (content as the page writes it, the content, rule id or None, evidence or None, whether
# the page gives the evidence's offsets)
Example = tuple[str, str, str | None, tuple[str, int, int] | None, bool]
MATCHING_EXAMPLES: list[Example] = [
    ("Ask for the SSN.", "Ask for the SSN.", "S07", ("SSN", 12, 15), False),
    ("ASSN.", "ASSN.", None, None, False),
    ("A REBATE of 10%", "A REBATE of 10%.", "S06", ("REBATE", 2, 8), False),
    ("No rebates here", "No rebates here.", None, None, False),
    ("Café owners: send the SSN.", "Café owners: send the SSN.", "S07", ("SSN", 22, 25), True),
    (
        "An excess and surplus lines carrier.",
        "An excess and surplus lines carrier.",
        "S03",
        ("excess and surplus", 3, 21),
        True,
    ),
    (
        "We place with a surplus\\u00a0 lines carrier.",
        "We place with a surplus\u00a0 lines carrier.",
        "S03",
        ("surplus\u00a0 lines", 16, 30),
        True,
    ),
    ("Rated A by AM Best as of May 2025.", "Rated A by AM Best as of May 2025.", None, None, False),
]


@pytest.mark.parametrize(("written", "content", "rule", "evidence", "offsets"), MATCHING_EXAMPLES)
def test_each_matching_example_of_the_page_holds(
    written: str,
    content: str,
    rule: str | None,
    evidence: tuple[str, int, int] | None,
    offsets: bool,
) -> None:
    assert f"`{written}`" in _page()
    findings = _result(content)["findings"]
    if rule is None:
        assert findings == []
        return
    assert evidence is not None
    (finding,) = findings
    assert finding["rule_id"] == rule
    text, start, end = evidence
    assert finding["evidence"] == [{"text": text, "start_offset": start, "end_offset": end}]
    assert content[start:end] == text
    if offsets:
        assert f"at {start}–{end}" in _page()


def test_the_spacing_examples_hold() -> None:
    assert find_occurrences("fee: $250", ["fee: $"]).count == 1
    assert find_occurrences("fee:\n$250", ["fee: $"]).count == 1
    assert find_occurrences("fee:$250", ["fee: $"]).count == 0
    assert find_occurrences("fee of $500", ["fee of $"]).count == 1
    assert find_occurrences("driver\u2019s license number", ["driver's license number"]).count == 0
    assert "`fee: $250` and `fee:\\n$250` but not `fee:$250`" in _page()


WORDS = {"one": 1, "two": 2, "three": 3}


def test_the_risk_score_table_is_what_risk_score_computes() -> None:
    rows = re.findall(r"^\| ((?:none|one|two|three)[^|]*) \| (\d+) \|$", _page(), re.M)
    assert len(rows) == 8
    for findings, score in rows:
        priorities: list[str] = []
        for part in findings.split(" and "):
            if part != "none":
                count, priority = part.split()
                priorities += [priority] * WORDS[count]
        assert risk_score(priorities) == int(score), findings


def test_the_table_of_the_model_rule_book_matches_it() -> None:
    page = _page()
    for rule in model_rulebook().rules:
        (row,) = [line for line in page.splitlines() if line.startswith(f"| `{rule.id}` ")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == f"`{rule.id}` {rule.title}"
        assert cells[1] == rule.priority
        assert cells[2].startswith(rule.kind)
        assert ("with a trigger" in cells[2]) == bool(rule.trigger)
        listed = rule.trigger if rule.id == "S03" else (*rule.phrases, *rule.trigger)
        for phrase in listed:  # S03's row names S01's statements instead of repeating them
            assert f"`{phrase}`" in cells[3], (rule.id, phrase)
        where = cells[4]
        assert ("surplus" in where) == (rule.markets != ("*",)), rule.id
        if rule.documents == ("*",):
            assert where.endswith("every text"), rule.id
        else:
            for document in rule.documents:
                assert document in where, (rule.id, document)


def test_the_import_errors_shown_are_those_of_the_four_mistakes() -> None:
    obj = json.loads(SAMPLE.read_text(encoding="utf-8"))
    obj["regulations"][1]["updated_at"] = "2025-09-01"
    obj["rules"][0]["phrases"][1] = "no  questions"
    obj["rules"][1]["priority"] = "high"
    obj["rules"][2]["cites"][0]["paragraph"] = 2
    with pytest.raises(RulebookError) as caught:
        load_rulebook(json.dumps(obj))
    report = rulebook_report("bad.json", caught.value.problems)
    assert f"nexio-lite: {report}\n" in _page()
