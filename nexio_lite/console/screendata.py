"""A `screen_analysis` job as the console's Job page shows it: the result (risk score,
counts, findings with their citations) and the screened text cut into pieces, each
piece of evidence to be wrapped in `<mark>`.

The text is the stored request's `content`; the evidence offsets are code points of it,
which are Python string indexes, so the text is cut with plain slices. Nothing here
writes HTML: the template escapes every piece (Jinja2's autoescaping), so no markup in
the screened text can reach the page as markup.

Where evidence of different findings overlaps (possible with an organization's own rule
book), the text is cut at every evidence boundary, and each piece carries every finding
that covers it; a piece's `start` is then unique, and the evidence list links to the
piece where each occurrence starts (`#t{start}`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import attrs
import orjson

from nexio_lite.models import Job, JobStatus

PRIORITY_ORDER: tuple[str, ...] = ("p1", "p2", "p3")


@attrs.frozen(slots=True)
class Span:
    """One occurrence of a finding's evidence: code-point offsets in the content."""

    start: int
    end: int
    rule_id: str
    priority: str


@attrs.frozen(slots=True)
class Piece:
    """A run of the screened text. `rules` is empty for plain text; for highlighted text
    it names the findings whose evidence covers the run, and `priority` is the most
    serious of theirs."""

    text: str
    start: int
    end: int
    rules: tuple[str, ...] = ()
    priority: str = ""

    @property
    def marked(self) -> bool:
        return bool(self.rules)


@attrs.frozen(slots=True)
class ScreenPage:
    """What the Job page of a screen job shows. `result` is None until the job has
    completed; `pieces` is empty when the stored request holds no text."""

    content_length: int
    pieces: tuple[Piece, ...]
    context: dict[str, str]
    rulebook_id: str
    result: dict[str, Any] | None


def _rank(priority: str) -> int:
    return PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else len(PRIORITY_ORDER)


def highlight(content: str, spans: Iterable[Span]) -> tuple[Piece, ...]:
    """`content` cut at every boundary of the `spans` that lie within it (others are
    ignored): plain pieces between them, marked pieces where any span covers the text.
    Joining the pieces' texts gives `content` back. One sweep over the cuts: the spans
    covering a piece are those started and not yet ended."""
    kept = [s for s in spans if 0 <= s.start < s.end <= len(content)]
    starting: dict[int, list[int]] = {}
    ending: dict[int, list[int]] = {}
    for index, span in enumerate(kept):
        starting.setdefault(span.start, []).append(index)
        ending.setdefault(span.end, []).append(index)
    cuts = sorted({0, len(content), *starting, *ending})
    active: set[int] = set()
    pieces: list[Piece] = []
    for start, end in itertools.pairwise(cuts):
        active.difference_update(ending.get(start, ()))
        active.update(starting.get(start, ()))
        if not active:  # every cut is a span's edge: no two plain pieces in a row
            pieces.append(Piece(content[start:end], start, end))
            continue
        covering = [kept[i] for i in sorted(active)]
        rules = tuple(dict.fromkeys(s.rule_id for s in covering))
        priority = min((s.priority for s in covering), key=_rank)
        pieces.append(Piece(content[start:end], start, end, rules, priority))
    return tuple(pieces)


def evidence_spans(result: dict[str, Any]) -> list[Span]:
    """Every occurrence listed in the findings' `evidence`."""
    spans = []
    for finding in result.get("findings") or []:
        for occurrence in finding.get("evidence") or []:
            spans.append(
                Span(
                    int(occurrence["start_offset"]),
                    int(occurrence["end_offset"]),
                    str(finding["rule_id"]),
                    str(finding["priority"]),
                )
            )
    return spans


def _loads_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def screen_page(job: Job) -> ScreenPage:
    """The screen part of a screen job's page, from its stored request and result."""
    request = _loads_object(job.request)
    content = request.get("content")
    content = content if isinstance(content, str) else ""
    given = request.get("context")
    context = {str(k): str(v) for k, v in (given if isinstance(given, dict) else {}).items()
               if v is not None}  # fmt: skip
    context.setdefault("document", "other")
    result = _loads_object(job.result) if job.status is JobStatus.COMPLETED else {}
    spans = evidence_spans(result) if result else []
    return ScreenPage(
        content_length=len(content),
        pieces=highlight(content, spans) if content else (),
        context=context,
        rulebook_id=str(request.get("rulebook") or "rules:default"),
        result=result or None,
    )
