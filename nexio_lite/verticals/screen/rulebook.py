"""Rule books: the records, and how an imported JSON object becomes one.

A rule book is `{"regulations": [...], "rules": [...]}`. `load_rulebook` (JSON text) and
`rulebook_from_obj` (a parsed value) check everything and either return a `Rulebook` or
raise `RulebookError` listing *every* problem with its JSON path (`rules[9].cites[0]`,
indexes from 0): nothing is ever partially accepted. Unknown keys, duplicate keys and
unpaired surrogates are problems too, so that the imported object and its canonical form
(`canonical_json`, over which `sha256` is taken) say the same thing.

The checks themselves live in `rulebook_checks`; this module holds the records.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

PRIORITIES: tuple[str, ...] = ("p1", "p2", "p3")
KINDS: tuple[str, ...] = ("forbidden", "required")
ANY = "*"
PARAGRAPH_SEPARATOR = "\n\n"

REGULATION_KEYS: tuple[str, ...] = (
    "id",
    "category",
    "title",
    "description",
    "source_url",
    "authorities",
    "jurisdictions",
    "updated_at",
    "text",
)
RULE_KEYS: tuple[str, ...] = (
    "id",
    "priority",
    "title",
    "details",
    "kind",
    "phrases",
    "trigger",
    "states",
    "markets",
    "documents",
    "cites",
)
CITE_KEYS: tuple[str, ...] = ("regulation", "paragraph")


def canonical_json(obj: Any) -> bytes:
    """The canonical JSON of a rule book object: keys sorted by code point, separators `,`
    and `:` without spaces, non-ASCII written as itself, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


@attrs.frozen(slots=True)
class Paragraph:
    """Paragraph `number` (from 1) of a regulation's text; offsets in code points from the
    start of the text, `end_offset` one past the last character."""

    number: int
    text: str
    start_offset: int
    end_offset: int

    def to_chunk(self) -> dict[str, Any]:
        """A citation chunk: `{text, start_offset, end_offset}`."""
        return {"text": self.text, "start_offset": self.start_offset, "end_offset": self.end_offset}


def split_paragraphs(text: str) -> tuple[Paragraph, ...]:
    """The pieces of `text` between occurrences of exactly `"\\n\\n"`, read left to right
    (a longer run of newlines is not special: its remainder belongs to a piece)."""
    paragraphs: list[Paragraph] = []
    start = 0
    for number, piece in enumerate(text.split(PARAGRAPH_SEPARATOR), start=1):
        end = start + len(piece)
        paragraphs.append(Paragraph(number, piece, start, end))
        start = end + len(PARAGRAPH_SEPARATOR)
    return tuple(paragraphs)


@attrs.frozen(slots=True)
class Regulation:
    """A regulation; `paragraphs` are computed from `text`."""

    id: str
    category: str
    title: str
    description: str
    source_url: str
    authorities: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    updated_at: str
    text: str
    paragraphs: tuple[Paragraph, ...] = attrs.field(eq=False, repr=False)

    @paragraphs.default
    def _split(self) -> tuple[Paragraph, ...]:
        return split_paragraphs(self.text)

    def header(self) -> dict[str, Any]:
        """The `regulation` object of a citation (keys in result order)."""
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "authorities": list(self.authorities),
            "jurisdictions": list(self.jurisdictions),
            "description": self.description,
            "updated_at": self.updated_at,
            "source_url": self.source_url,
        }


@attrs.frozen(slots=True)
class Cite:
    """A cited paragraph: regulation id and paragraph number (from 1)."""

    regulation: str
    paragraph: int


@attrs.frozen(slots=True)
class Rule:
    """A rule. `states`, `markets` and `documents` are `("*",)` or the values that apply;
    `trigger` is empty when absent (and always for a `forbidden` rule)."""

    id: str
    priority: str
    title: str
    details: str
    kind: str
    phrases: tuple[str, ...]
    trigger: tuple[str, ...]
    states: tuple[str, ...]
    markets: tuple[str, ...]
    documents: tuple[str, ...]
    cites: tuple[Cite, ...]


@attrs.frozen(slots=True)
class Rulebook:
    """A checked rule book. `canonical` is the canonical JSON of the object as imported and
    `sha256` its hex digest (computed); `load_rulebook(canonical)` gives the same rule book
    back. Build one with `load_rulebook` or `rulebook_from_obj`, which check everything."""

    regulations: tuple[Regulation, ...]
    rules: tuple[Rule, ...]
    canonical: bytes = attrs.field(repr=False, eq=False)
    sha256: str = attrs.field(init=False)
    _by_id: dict[str, Regulation] = attrs.field(init=False, eq=False, repr=False)

    @sha256.default
    def _digest(self) -> str:
        return sha256_hex(self.canonical)

    @_by_id.default
    def _index(self) -> dict[str, Regulation]:
        return {regulation.id: regulation for regulation in self.regulations}

    def regulation(self, regulation_id: str) -> Regulation:
        """The regulation with this id (KeyError if none)."""
        return self._by_id[regulation_id]


@attrs.frozen(slots=True)
class RulebookProblem:
    """One thing wrong with an imported rule book: its JSON path (`""` for the whole
    object) and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RulebookError(ValueError):
    """A rule book that cannot be imported; `problems` lists every problem in document
    order and `str(err)` is the first one."""

    def __init__(self, problems: list[RulebookProblem]) -> None:
        if not problems:
            raise ValueError("RulebookError needs at least one problem")
        self.problems: list[RulebookProblem] = list(problems)
        super().__init__(str(self.problems[0]))
