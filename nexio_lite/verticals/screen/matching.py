"""Finding the occurrences of a phrase list in a content.

The rules, and how each is carried out:

- Folding: only `A`–`Z` fold to `a`–`z`. The content is folded once (`fold`: a one-for-one
  replacement, so offsets do not move) and the phrases are written in lower case; no
  regular-expression case folding is used (it would also fold `ſ` and the Kelvin sign).
- A space of a phrase matches a whole run of characters for which `str.isspace()` is true:
  `\\s++` (possessive). In a `str` pattern `\\s` is exactly `str.isspace()` (both read
  CPython's `Py_UNICODE_ISSPACE`; a test checks every code point).
- Word boundaries: a character for which `str.isalnum()` is true is `[^\\W_]` (`\\w` is
  `isalnum()` plus `_`; a test checks every code point). Where a phrase begins with a
  letter or digit `c`, the pattern is `c(?<![^\\W_]c)…`: the look-behind comes after the
  first character so that the engine can still skip ahead to the positions holding a
  possible first character; where it ends with one, `…(?![^\\W_])`.
- The phrase list becomes one alternation, phrases in list order. The engine tries the
  alternatives in order at each position and takes the first that matches (boundaries
  included), continues after its end, and otherwise moves one position on: exactly the
  scan of the specification.

Compiled patterns are cached per phrase list.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from itertools import islice
from typing import Any

import attrs

EVIDENCE_LIMIT = 20

_FOLD_BYTES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_ALNUM = r"[^\W_]"
_SPACE_RUN = r"\s++"


def fold(text: str) -> str:
    """`text` with `A`–`Z` replaced by `a`–`z` and every other character kept as it is.

    UTF-8 writes every non-ASCII character with bytes >= 0x80 only, so translating the
    bytes A-Z never touches one."""
    if text.isascii():
        return text.lower()
    return (
        text.encode("utf-8", "surrogatepass")
        .translate(_FOLD_BYTES)
        .decode("utf-8", "surrogatepass")
    )


def phrase_pattern(phrase: str) -> str:
    """The regular expression (for folded text) of one phrase, boundaries included."""
    phrase = fold(phrase)
    body = _SPACE_RUN.join(re.escape(word) for word in phrase.split(" "))
    first, last = phrase[0], phrase[-1]
    if first.isalnum():
        head = re.escape(first)
        body = f"{head}(?<!{_ALNUM}{head}){body[len(head) :]}"
    if last.isalnum():
        body = f"{body}(?!{_ALNUM})"
    return body


@functools.lru_cache(maxsize=4096)
def compile_phrases(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a non-empty phrase list: the alternation of its phrases, in order."""
    return re.compile("|".join(phrase_pattern(p) for p in phrases))


@attrs.frozen(slots=True)
class Occurrence:
    """One occurrence: `text` is the content between the offsets, as written; offsets are
    code points of the content, `end_offset` one past the last character."""

    text: str
    start_offset: int
    end_offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start_offset": self.start_offset, "end_offset": self.end_offset}


@attrs.frozen(slots=True)
class Occurrences:
    """How often a phrase list occurs (`count`) and its first `EVIDENCE_LIMIT` occurrences
    in content order (`first`)."""

    count: int
    first: tuple[Occurrence, ...]


NO_OCCURRENCES = Occurrences(0, ())


def find_occurrences(
    content: str,
    phrases: Sequence[str],
    *,
    folded: str | None = None,
    limit: int = EVIDENCE_LIMIT,
) -> Occurrences:
    """The occurrences of a phrase list in `content`: all counted, the first `limit` kept.

    `folded` is `fold(content)`, when the caller has it already (one fold serves every
    list). An empty list never occurs."""
    if not phrases:
        return NO_OCCURRENCES
    if folded is None:
        folded = fold(content)
    matches = compile_phrases(tuple(phrases)).finditer(folded)
    first = tuple(
        Occurrence(content[start:end], start, end)
        for start, end in (m.span() for m in islice(matches, limit))
    )
    if len(first) < limit:
        return Occurrences(len(first), first)
    return Occurrences(len(first) + sum(1 for _ in matches), first)
