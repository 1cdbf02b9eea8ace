"""The console's Job page of a `screen_analysis` job, over HTTP against a real app on a
real SQLite file: the risk score, the counts, every finding with its cited paragraphs,
and the screened text with each occurrence of evidence in a `<mark>` exactly at its
code-point offsets (non-ASCII text, a character outside the BMP and HTML before it), all
of the text escaped."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from nexio_lite.admin import Admin
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.verticals.screen import model_rulebook

from .conftest import World
from .test_console import signed_in

# Non-ASCII letters, a character outside the BMP (two UTF-16 units, one code point) and
# markup before, between and around the evidence; a line break inside a phrase's space.
CONTENT = (
    "Café «Zoë» 🙂 — <b>Guaranteed approval</b> & a REBATE for you!\n"
    "Send the owner's SSN and date\nof birth: <script>alert('x')</script> "
    '<img src=x onerror="alert(1)"> Cash back, gift card.'
)
SCREENED = re.compile(r'<div class="screened" id="screened">(.*?)</div>', re.S)
MARK = re.compile(r"<mark ([^>]*)>(.*?)</mark>", re.S)
ATTR = re.compile(r'([\w-]+)="([^"]*)"')


@pytest.fixture
async def screening(world: World) -> World:
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        await Admin(store).add_rulebook("acme", "rules:default", model_rulebook())
    finally:
        await store.close()
    return world


async def screened_job(world: World, content: str, context: dict[str, str]) -> dict[str, Any]:
    resp = await world.client.post(
        "/api/v1/analysis/screen",
        json={"content": content, "context": context},
        headers=world.headers(),
    )
    assert resp.status == 202, await resp.text()
    job = await world.wait_terminal((await resp.json())["id"])
    assert job["status"] == "completed", job
    return job


def marks_of(page: str) -> tuple[str, list[tuple[int, int, str, dict[str, str]]]]:
    """The screened text as the page shows it (tags removed, entities decoded) and each
    mark: (offset in that text where it begins, where it ends, its text, its attributes)."""
    (inner,) = SCREENED.findall(page)
    shown: list[str] = []
    marks = []
    at = 0
    for piece in _tokens(inner):
        if isinstance(piece, str):
            text = html.unescape(piece)
            shown.append(text)
            at += len(text)
            continue
        attrs, raw = piece
        text = html.unescape(raw)
        marks.append((at, at + len(text), text, attrs))
        shown.append(text)
        at += len(text)
    return "".join(shown), marks


def _tokens(inner: str) -> list[str | tuple[dict[str, str], str]]:
    tokens: list[str | tuple[dict[str, str], str]] = []
    last = 0
    for found in MARK.finditer(inner):
        tokens.append(inner[last : found.start()])
        attributes = {k: html.unescape(v) for k, v in ATTR.findall(found.group(1))}
        tokens.append((attributes, found.group(2)))
        last = found.end()
    tokens.append(inner[last:])
    return tokens


async def test_a_screen_job_page_shows_every_finding_and_marks_the_evidence_at_its_offsets(
    screening: World,
) -> None:
    job = await screened_job(screening, CONTENT, {"market": "surplus", "document": "quote"})
    result = job["result"]
    ids = [f["rule_id"] for f in result["findings"]]
    assert ids == ["S04", "S01", "S02", "S06", "S07"], "p1 first, then by first evidence"
    await signed_in(screening)
    resp = await screening.client.get(f"/ui/jobs/{job['id']}")
    assert resp.status == 200
    page = await resp.text()

    assert f'data-risk="{result["risk_score"]}"' in page
    for priority, count in result["counts"].items():
        assert re.search(
            rf'<li data-priority="{priority}"><span class="prio {priority}">{priority}</span> '
            rf"{count}</li>",
            page,
        ), priority
    assert re.findall(r'<li class="finding" id="finding-(\w+)"', page) == ids
    for finding in result["findings"]:
        assert html.escape(finding["title"], quote=False) in page
        assert html.escape(finding["details"]).replace("&#x27;", "&#39;") in page
        for citation in finding["citations"]:
            assert f"<code>{citation['regulation']['id']}</code>" in page
            assert html.escape(citation["regulation"]["title"]) in page
            for chunk in citation["chunks"]:
                assert f"<p>{html.escape(chunk['text']).replace('&#x27;', '&#39;')}</p>" in page
        for occurrence in finding["evidence"]:
            assert f'href="#t{occurrence["start_offset"]}"' in page

    shown, marks = marks_of(page)
    assert shown == CONTENT, "the whole text, in order, nothing added or lost"
    evidence = {
        (o["start_offset"], o["end_offset"]): (o["text"], f["rule_id"], f["priority"])
        for f in result["findings"]
        for o in f["evidence"]
    }
    assert len(evidence) == 6
    assert {(start, end) for start, end, _, _ in marks} == set(evidence)
    for start, end, text, attributes in marks:
        expected_text, rule_id, priority = evidence[(start, end)]
        assert text == expected_text == CONTENT[start:end]
        assert (attributes["data-start"], attributes["data-end"]) == (str(start), str(end))
        assert attributes["data-rules"] == rule_id
        assert attributes["class"] == f"hit {priority}"
        assert attributes["id"] == f"t{start}"
    guaranteed = next(m for m in marks if m[2] == "Guaranteed approval")
    assert guaranteed[0] == CONTENT.index("Guaranteed") == 18, "code points, not UTF-16 units"
    assert "date\nof birth" in {m[2] for m in marks}, "the whitespace run, as written"

    assert "<script>" not in page.split("</head>")[1]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<b>" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "style=" not in page, "no inline style (the CSP forbids it)"


async def test_a_clean_text_shows_no_finding_and_no_mark(screening: World) -> None:
    job = await screened_job(screening, "A plain <i>letter</i>\n\nwith two lines.", {})
    assert job["result"]["findings"] == []
    await signed_in(screening)
    page = await (await screening.client.get(f"/ui/jobs/{job['id']}")).text()
    assert 'data-risk="0"' in page
    assert "No finding" in page
    shown, marks = marks_of(page)
    assert shown == "A plain <i>letter</i>\n\nwith two lines."
    assert marks == []
    assert "document <code>other</code>" in page, "the default document is shown"


async def test_an_evaluation_page_has_no_screen_section(world: World) -> None:
    resp = await world.submit()
    eval_id = (await resp.json())["eval_id"]
    await world.wait_terminal(eval_id)
    await signed_in(world)
    page = await (await world.client.get(f"/ui/jobs/{eval_id}")).text()
    assert "Screening result" not in page
    assert 'id="screened"' not in page


async def test_the_jobs_list_shows_a_screen_jobs_rule_book_and_risk(screening: World) -> None:
    job = await screened_job(screening, CONTENT, {"market": "surplus", "document": "quote"})
    await signed_in(screening)
    page = await (await screening.client.get("/ui/jobs?type=screen_analysis")).text()
    (row,) = re.findall(rf'<tr data-job="{job["id"]}".*?</tr>', page, re.S)
    assert re.search(r'data-label="Uses">rules:default v1</td>', row)
    risk, findings = job["result"]["risk_score"], len(job["result"]["findings"])
    assert re.search(rf'data-label="Outcome">\s*risk {risk}, {findings} findings\s*</td>', row)
