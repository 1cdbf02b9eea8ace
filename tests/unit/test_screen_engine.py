"""`screen`: the published checks, findings and their order, the risk score, citations, the
result's shape and the trace. Expected values are computed by hand from the content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from nexio_lite.verticals.screen.bench import bench_content, bench_screen
from nexio_lite.verticals.screen.engine import risk_score, screen
from nexio_lite.verticals.screen.model import model_rulebook, model_rulebook_json
from nexio_lite.verticals.screen.request import ScreenRequest, validate_screen_request
from nexio_lite.verticals.screen.rulebook import Rulebook
from nexio_lite.verticals.screen.rulebook_checks import rulebook_from_obj


def request(content: str, **context: str) -> ScreenRequest:
    body: dict[str, Any] = {"content": content}
    if context:
        body["context"] = context
    result = validate_screen_request(body)
    assert isinstance(result, ScreenRequest), result
    return result


def run(content: str, book: Rulebook | None = None, **context: str) -> dict[str, Any]:
    return screen(request(content, **context), book or model_rulebook()).result


def finding_ids(result: dict[str, Any]) -> list[str]:
    return [f["rule_id"] for f in result["findings"]]


def evidence(finding: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(e["text"], e["start_offset"], e["end_offset"]) for e in finding["evidence"]]


def trace_rule(trace: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in trace["rules"] if r["rule_id"] == rule_id)


def custom_book(*rules: dict[str, Any]) -> Rulebook:
    """The model's regulations with these rules (defaults: forbidden, applies everywhere,
    cites MD-3 ¶1)."""
    regulations = json.loads(model_rulebook_json())["regulations"]
    base = {
        "title": "t",
        "details": "d",
        "kind": "forbidden",
        "states": ["*"],
        "markets": ["*"],
        "documents": ["*"],
        "cites": [{"regulation": "MD-3", "paragraph": 1}],
    }
    return rulebook_from_obj({"regulations": regulations, "rules": [base | r for r in rules]})


# ---------------------------------------------------------------- the published checks


def test_check_guaranteed_approval_without_context() -> None:
    result = run("Guaranteed approval for every applicant.")
    assert finding_ids(result) == ["S04"]
    assert evidence(result["findings"][0]) == [("Guaranteed approval", 0, 19)]
    assert result["risk_score"] == 75


def test_check_guaranteed_approval_in_a_surplus_quote() -> None:
    content = "Guaranteed approval for every applicant."
    assert len(content) == 40
    result = run(content, market="surplus", document="quote")
    assert finding_ids(result) == ["S04", "S01", "S02"]
    assert [f["evidence"] for f in result["findings"][1:]] == [[], []]
    assert result["risk_score"] == (200 * (10**6 - 25 * 25 * 25) + 10**6) // (2 * 10**6) == 98
    assert result["counts"] == {"p1": 3, "p2": 0, "p3": 0}


def test_check_ssn_in_capitals_fires_s07() -> None:
    result = run("Ask for the SSN.")
    assert finding_ids(result) == ["S07"]
    assert evidence(result["findings"][0]) == [("SSN", 12, 15)]


def test_check_assn_fires_nothing() -> None:
    result = run("ASSN.")
    assert result["findings"] == []
    assert result["risk_score"] == 0


def test_check_surplus_lines_across_a_no_break_space_run() -> None:
    result = run("We place with a surplus\u00a0 lines carrier.")
    assert finding_ids(result) == ["S03"]
    assert evidence(result["findings"][0]) == [("surplus\u00a0 lines", 16, 30)]


# ---------------------------------------------------------------- the risk score


@pytest.mark.parametrize(
    ("priorities", "score"),
    [
        ([], 0),
        (["p1"], 75),
        (["p2"], 35),
        (["p3"], 10),
        (["p1", "p1"], 94),  # 100 * (1 - 0.0625) = 93.75
        (["p2", "p2"], 58),  # 100 * (1 - 0.4225) = 57.75
        (["p1", "p3"], 78),  # 100 * (1 - 0.225) = 77.5, half rounds up
        (["p2", "p3"], 42),  # 100 * (1 - 0.585) = 41.5, half rounds up
        (["p1", "p2", "p3"], 85),  # 100 * (1 - 0.14625) = 85.375
        (["p3"] * 7, 52),  # 100 * (1 - 0.4782969) = 52.17031
    ],
)
def test_risk_score(priorities: list[str], score: int) -> None:
    assert risk_score(priorities) == score


# ---------------------------------------------------------------- findings


def test_findings_are_ordered_by_priority_then_first_evidence_then_rule_id() -> None:
    book = custom_book(
        {"id": "B2", "priority": "p2", "phrases": ["beta"]},
        {"id": "R9", "priority": "p3", "phrases": ["gamma"]},
        {"id": "R_1", "priority": "p1", "kind": "required", "phrases": ["never"]},
        {"id": "A2", "priority": "p2", "phrases": ["alpha"]},
        {"id": "Z1", "priority": "p1", "phrases": ["zeta"]},
        {"id": "R10", "priority": "p3", "phrases": ["gamma"]},
        {"id": "R1", "priority": "p1", "kind": "required", "phrases": ["never"]},
    )
    content = "gamma beta alpha zeta"  # gamma 0, beta 6, alpha 11, zeta 17; length 21
    result = run(content, book)
    # p1: Z1 (17), then R1 and R_1 (no evidence: 21), "1" < "_"; p2: B2 (6), A2 (11);
    # p3: R10 and R9 (both 0), "R10" < "R9" in code-point order.
    assert finding_ids(result) == ["Z1", "R1", "R_1", "B2", "A2", "R10", "R9"]
    assert result["counts"] == {"p1": 3, "p2": 2, "p3": 2}
    assert result["risk_score"] == 99  # 100 * (1 - 25^3 * 65^2 * 90^2 / 100^7) = 99.465…


def test_counts_hold_every_priority_even_at_zero() -> None:
    assert run("Ask for the SSN.")["counts"] == {"p1": 0, "p2": 1, "p3": 0}
    assert run("Nothing to see.")["counts"] == {"p1": 0, "p2": 0, "p3": 0}


def test_forbidden_rule_evidence_keeps_twenty_and_counts_all() -> None:
    content = " ".join(["Rebate"] * 25)
    (finding,) = run(content)["findings"]
    assert finding["rule_id"] == "S06"
    assert finding["evidence_count"] == 25
    assert len(finding["evidence"]) == 20
    assert finding["evidence"][19] == {"text": "Rebate", "start_offset": 133, "end_offset": 139}


def test_required_rule_with_trigger_fires_when_trigger_occurs_and_phrases_do_not() -> None:
    outcome = screen(request("Our broker fee applies; a Policy Fee too."), model_rulebook())
    (finding,) = outcome.result["findings"]
    assert finding["rule_id"] == "S08"
    assert evidence(finding) == [("broker fee", 4, 14), ("Policy Fee", 26, 36)]
    assert finding["evidence_count"] == 2
    assert trace_rule(outcome.trace, "S08") | {"rule_id": "S08"} == {
        "rule_id": "S08",
        "applies": True,
        "not_applied_because": None,
        "trigger_count": 2,
        "phrase_count": 0,
        "fired": True,
    }


def test_required_rule_does_not_fire_when_its_phrases_occur() -> None:
    outcome = screen(request("Our broker fee of $250 applies."), model_rulebook())
    assert outcome.result["findings"] == []
    s08 = trace_rule(outcome.trace, "S08")
    assert (s08["trigger_count"], s08["phrase_count"], s08["fired"]) == (1, 1, False)


def test_both_lists_are_counted_even_when_the_trigger_does_not_occur() -> None:
    outcome = screen(request("Rated on 2025-01-01, as of today."), model_rulebook())
    s09 = trace_rule(outcome.trace, "S09")
    assert (s09["trigger_count"], s09["phrase_count"], s09["fired"]) == (0, 2, False)


def test_required_rule_without_trigger_is_satisfied_by_its_phrases() -> None:
    content = "The insurer is not licensed in the state; it is not protected by the fund."
    outcome = screen(request(content, market="surplus", document="proposal"), model_rulebook())
    assert outcome.result["findings"] == []
    s01, s03 = trace_rule(outcome.trace, "S01"), trace_rule(outcome.trace, "S03")
    assert (s01["trigger_count"], s01["phrase_count"], s01["fired"]) == (None, 1, False)
    assert (s03["trigger_count"], s03["phrase_count"], s03["fired"]) == (0, 1, False)


def test_citations_group_paragraphs_by_regulation_in_order_of_citation() -> None:
    book = custom_book(
        {
            "id": "C1",
            "priority": "p2",
            "phrases": ["rebate"],
            "cites": [
                {"regulation": "MD-2", "paragraph": 3},
                {"regulation": "MD-1", "paragraph": 1},
                {"regulation": "MD-2", "paragraph": 1},
            ],
        }
    )
    (finding,) = run("rebate", book)["findings"]
    md2 = book.regulation("MD-2").paragraphs
    md1 = book.regulation("MD-1").paragraphs
    assert [c["regulation"]["id"] for c in finding["citations"]] == ["MD-2", "MD-1"]
    assert finding["citations"][0]["chunks"] == [md2[2].to_chunk(), md2[0].to_chunk()]
    assert finding["citations"][1]["chunks"] == [md1[0].to_chunk()]
    assert finding["citations"][1]["chunks"][0]["start_offset"] == 0
    assert finding["citations"][0]["chunks"][0]["start_offset"] == 124 + 2 + 107 + 2


def test_result_and_finding_keys_come_in_the_documented_order() -> None:
    result = run("Ask for the SSN.")
    assert list(result) == [
        "type",
        "rulebook",
        "content_sha256",
        "risk_score",
        "counts",
        "findings",
    ]
    assert result["type"] == "analysis.screen.result"
    assert list(result["rulebook"]) == ["id", "version", "sha256"]
    assert list(result["counts"]) == ["p1", "p2", "p3"]
    (finding,) = result["findings"]
    assert list(finding) == [
        "rule_id",
        "priority",
        "title",
        "details",
        "evidence",
        "evidence_count",
        "citations",
    ]
    assert list(finding["evidence"][0]) == ["text", "start_offset", "end_offset"]
    citation = finding["citations"][0]
    assert list(citation) == ["regulation", "chunks"]
    assert citation["regulation"] == {
        "id": "MD-4",
        "category": "privacy",
        "title": "Personal identifiers",
        "authorities": ["nexio-model"],
        "jurisdictions": ["us-model"],
        "description": "Identifiers that do not belong in placement documents.",
        "updated_at": "2025-06-30T00:00:00Z",
        "source_url": "urn:nexio:model:MD-4",
    }
    assert list(citation["regulation"]) == [
        "id",
        "category",
        "title",
        "authorities",
        "jurisdictions",
        "description",
        "updated_at",
        "source_url",
    ]
    assert list(citation["chunks"][0]) == ["text", "start_offset", "end_offset"]
    assert (finding["title"], finding["priority"]) == (
        "Personal identifier requested or shown",
        "p2",
    )


def test_result_names_the_requested_rulebook_version_and_digests() -> None:
    content = "Prémium \U0001f600"
    outcome = screen(request(content), model_rulebook(), version=3)
    assert outcome.result["rulebook"] == {
        "id": "rules:default",
        "version": 3,
        "sha256": "00432567372ae58e6329b20cf48c307b1af4bac22549b8a15dd92bcd3ab7c0b6",
    }
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    assert outcome.result["content_sha256"] == outcome.trace["content_sha256"] == digest


# ---------------------------------------------------------------- applicability and the trace


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ({}, "state"),
        ({"state": "TX", "market": "admitted"}, "state"),
        ({"state": "CA"}, "market"),
        ({"state": "CA", "market": "admitted", "document": "other"}, "market"),
        ({"state": "CA", "market": "surplus"}, "document"),
        ({"state": "CA", "market": "surplus", "document": "proposal"}, "document"),
        ({"state": "CA", "market": "surplus", "document": "quote"}, None),
    ],
)
def test_not_applied_because_names_the_first_failing_of_state_market_document(
    context: dict[str, str], reason: str | None
) -> None:
    book = custom_book(
        {
            "id": "X1",
            "priority": "p3",
            "phrases": ["rebate"],
            "states": ["CA", "NY"],
            "markets": ["surplus"],
            "documents": ["quote"],
        }
    )
    outcome = screen(request("A rebate.", **context), book)
    entry = outcome.trace["rules"][0]
    assert entry["applies"] is (reason is None)
    assert entry["not_applied_because"] == reason
    assert entry["fired"] is (reason is None)
    assert entry["phrase_count"] == (0 if reason else 1)


def test_rules_that_do_not_apply_are_not_matched() -> None:
    outcome = screen(request("The cheapest and unbeatable SSN."), model_rulebook())
    s10 = trace_rule(outcome.trace, "S10")
    assert s10 == {
        "rule_id": "S10",
        "applies": False,
        "not_applied_because": "document",
        "trigger_count": None,
        "phrase_count": 0,
        "fired": False,
    }
    s01 = trace_rule(outcome.trace, "S01")
    assert (s01["not_applied_because"], s01["trigger_count"]) == ("market", None)
    assert finding_ids(outcome.result) == ["S07"]


def test_trace_shape_and_context() -> None:
    outcome = screen(
        request("Ask for the SSN.", document="quote", market="surplus", state="NY"),
        model_rulebook(),
        version=2,
        job_id="job_abc",
    )
    trace = outcome.trace
    assert list(trace) == [
        "id",
        "type",
        "rulebook",
        "context",
        "content_length",
        "content_sha256",
        "stages",
        "rules",
    ]
    assert trace["id"] == "job_abc"
    assert trace["type"] == "screen_analysis"
    assert trace["rulebook"] == outcome.result["rulebook"]
    assert trace["context"] == {"state": "NY", "market": "surplus", "document": "quote"}
    assert trace["content_length"] == 16
    assert [r["rule_id"] for r in trace["rules"]] == [f"S{n:02d}" for n in range(1, 11)]
    assert all(
        list(r)
        == ["rule_id", "applies", "not_applied_because", "trigger_count", "phrase_count", "fired"]
        for r in trace["rules"]
    )
    assert [r["fired"] for r in trace["rules"]] == [
        r["rule_id"] in {"S01", "S02", "S07"} for r in trace["rules"]
    ]


def test_content_length_counts_code_points() -> None:
    outcome = screen(request("\U0001f600é\u00a0x"), model_rulebook())
    assert outcome.trace["content_length"] == 4


def test_stages_take_their_timings_from_the_injected_clocks() -> None:
    readings: Iterator[int] = iter([10_000_000, 11_000_000, 13_500_000, 13_600_000])
    outcome = screen(
        request("Ask for the SSN."),
        model_rulebook(),
        clock=lambda: next(readings),
        wall_start_ns=1_750_000_000_000_000_000,
    )
    assert outcome.trace["stages"] == [
        {"name": "validate", "started_at": "2025-06-15T15:06:40.000Z", "duration_ms": 1.0},
        {"name": "match", "started_at": "2025-06-15T15:06:40.001Z", "duration_ms": 2.5},
        {"name": "score", "started_at": "2025-06-15T15:06:40.003Z", "duration_ms": 0.1},
    ]


def test_without_clocks_every_timing_is_zero() -> None:
    stages = screen(request("x"), model_rulebook()).trace["stages"]
    assert stages == [
        {"name": name, "started_at": "1970-01-01T00:00:00.000Z", "duration_ms": 0.0}
        for name in ("validate", "match", "score")
    ]


def test_same_inputs_give_the_same_bytes() -> None:
    content = bench_content(8_192)
    first = screen(request(content, market="surplus", document="proposal"), model_rulebook())
    again = screen(request(content, market="surplus", document="proposal"), model_rulebook())
    assert json.dumps(first.result) == json.dumps(again.result)
    assert json.dumps(first.trace) == json.dumps(again.trace)
    assert first.result["findings"]


# ---------------------------------------------------------------- the benchmark entry point


def test_bench_content_is_deterministic_and_exactly_sized() -> None:
    assert bench_content(1_000) == bench_content(1_000)
    assert len(bench_content()) == 65_536


def test_bench_screen_runs_and_reports_its_figures() -> None:
    figures = bench_screen(chars=2_048, runs=2)
    assert figures["content_chars"] == 2_048
    assert figures["runs"] == 2
    assert figures["rules_applied"] == 10
    assert figures["occurrences"] > 0
    assert 0 < figures["min_ms"] <= figures["median_ms"] <= figures["max_ms"]
    assert set(figures["stage_median_ms"]) == {"validate", "match", "score"}
