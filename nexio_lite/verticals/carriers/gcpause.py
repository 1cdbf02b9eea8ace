"""`gc_paused`: no cyclic garbage collection inside a block.

Parsing and preparing a pool allocate a few objects per carrier and no reference
cycles; the collections that so many allocations trigger would walk every object
allocated so far, again and again (0.6 s of parsing and 0.4 s of preparing a
99,999-carrier pool). An evaluation likewise allocates many small objects and no
cycles, and a collection in the middle of it walked every live object (1.07 s -> 0.38 s
per evaluation of a 99,999-carrier pool, with the pool frozen too). Collection resumes
(when it was on) at the end of the block.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
