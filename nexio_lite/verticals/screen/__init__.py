"""Placement screening (`screen_analysis` jobs, rules `screen-rules-v1`), the pure engine.

A text (a proposal, a quote, marketing copy) and a little context are screened against a
rule book: forbidden phrases that occur, required statements that are missing. Each
finding cites the paragraphs of the regulations behind its rule, and the findings give a
risk score. Nothing here does I/O or reads the clock:

- `request`: the body of `POST /api/v1/analysis/screen`, validated (`validate_screen_request`)
  and stored/reloaded (`ScreenRequest.normalized`, `load_screen_request`).
- `rulebook`, `rulebook_checks`: rule book records, their import checks (every problem with
  its JSON path) and canonical JSON / sha256.
- `model`: the model rule book `rules:default`, shipped as package data.
- `matching`: folding, whitespace runs, word boundaries, the occurrence scan.
- `engine`: `screen(request, rulebook) -> ScreenOutcome` (the job's result and trace).
- `bench`: `bench_screen()`, timings of a 64 KiB screen on the model rule book.
"""

from nexio_lite.verticals.screen.engine import (
    JOB_TYPE,
    RESULT_TYPE,
    ScreenOutcome,
    risk_score,
    screen,
)
from nexio_lite.verticals.screen.matching import Occurrence, Occurrences, find_occurrences, fold
from nexio_lite.verticals.screen.model import MODEL_RULEBOOK_ID, model_rulebook
from nexio_lite.verticals.screen.request import (
    DEFAULT_RULEBOOK,
    ScreenContext,
    ScreenRequest,
    load_screen_request,
    unknown_rulebook_message,
    validate_screen_request,
)
from nexio_lite.verticals.screen.rulebook import (
    Cite,
    Paragraph,
    Regulation,
    Rule,
    Rulebook,
    RulebookError,
    RulebookProblem,
    canonical_json,
)
from nexio_lite.verticals.screen.rulebook_checks import load_rulebook, rulebook_from_obj

__all__ = [
    "DEFAULT_RULEBOOK",
    "JOB_TYPE",
    "MODEL_RULEBOOK_ID",
    "RESULT_TYPE",
    "Cite",
    "Occurrence",
    "Occurrences",
    "Paragraph",
    "Regulation",
    "Rule",
    "Rulebook",
    "RulebookError",
    "RulebookProblem",
    "ScreenContext",
    "ScreenOutcome",
    "ScreenRequest",
    "canonical_json",
    "find_occurrences",
    "fold",
    "load_rulebook",
    "load_screen_request",
    "model_rulebook",
    "risk_score",
    "rulebook_from_obj",
    "screen",
    "unknown_rulebook_message",
    "validate_screen_request",
]
