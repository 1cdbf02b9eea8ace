"""The model rule book `rules:default` ("model placement disclosures v1").

Written for this project as a demo and test fixture; labelled as a model, and not legal
advice. The data is `rules_default.json` beside this module: five regulations (MD-1 to
MD-5) and ten rules (S01 to S10), each object with exactly the keys of a rule book. It is
loaded through the same checks as any imported rule book.
"""

from __future__ import annotations

import functools
from importlib import resources

from nexio_lite.verticals.screen.rulebook import Rulebook
from nexio_lite.verticals.screen.rulebook_checks import load_rulebook

MODEL_RULEBOOK_ID = "rules:default"
MODEL_RULEBOOK_FILE = "rules_default.json"


def model_rulebook_json() -> bytes:
    """The model rule book's file, as shipped (indented JSON; not the canonical form)."""
    return resources.files(__package__).joinpath(MODEL_RULEBOOK_FILE).read_bytes()


@functools.cache
def model_rulebook() -> Rulebook:
    """The model rule book, checked (loaded once per process)."""
    return load_rulebook(model_rulebook_json())
