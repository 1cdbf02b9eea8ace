"""Everything that depends only on the pool version, computed once (`prepare_pool`).

Guarantees: `facts` are in pool order (carrier_id ascending) and `facts[i].index == i`;
`bucket(line, state)` lists, in pool order, the indices in `facts` of exactly the
carriers that pass F01–F03 for that line and state; `early_counts(line, state)` counts
the carriers whose first failing rule is F01, F02 and F03 respectively.

Memory: the index holds 4-byte indices (`array('I')`), not object references, and the
facts share every repeated value (`facts.build_pool_facts`); the parsed carriers are kept only
through `CarrierFacts.carrier`, which the trace reads. With `columns` (the facts as
arrays, `columns.PoolColumns`), `evaluate` reads no index at all, and an index entry is
made from the columns the first time `bucket` or `early_counts` asks for it (the trace
and the console do); a pool outside the columns' bounds gets the whole index up front.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from itertools import compress
from operator import attrgetter, le

import attrs
import numpy as np

from nexio_lite.verticals.carriers.columns import PoolColumns, build_columns
from nexio_lite.verticals.carriers.facts import (
    NAME_RANK_BITS,
    STATE_BITS,
    CarrierFacts,
    FieldColumn,
    build_pool_facts,
)
from nexio_lite.verticals.carriers.gcpause import gc_paused
from nexio_lite.verticals.carriers.rules import (
    carrier_inactive,
    line_not_written,
    state_not_available,
)
from nexio_lite.verticals.carriers.schema import LINES, STATES, Carrier, PoolMeta

Bucket = array  # array('I') of indices into PreparedPool.facts, ascending
EarlyCounts = tuple[int, int, int]


@attrs.frozen(slots=True)
class PreparedPool:
    """A pool version ready for evaluation; immutable after `prepare_pool`."""

    meta: PoolMeta
    facts: tuple[CarrierFacts, ...]
    buckets: dict[tuple[str, str], Bucket]
    counts: dict[tuple[str, str], EarlyCounts]
    # The same facts as arrays, for `evaluate`'s fast path (None: values out of its bounds).
    columns: PoolColumns | None = None

    @property
    def size(self) -> int:
        return len(self.facts)

    def bucket(self, line: str, state: str) -> Bucket:
        """Indices (in `facts`) of the carriers passing F01–F03 for (line, state), in
        pool order. Do not modify the array: it is the pool's own."""
        found = self.buckets.get((line, state))
        return found if found is not None else self._index(line, state)[0]

    def early_counts(self, line: str, state: str) -> EarlyCounts:
        """(F01, F02, F03) primary-reason counts for (line, state)."""
        found = self.counts.get((line, state))
        return found if found is not None else self._index(line, state)[1]

    def _index(self, line: str, state: str) -> tuple[Bucket, EarlyCounts]:
        """An entry of the (line, state) index that is not there yet: from the columns
        (kept for a canonical line and state), else by the slow path."""
        cols = self.columns
        if cols is None or line not in LINES:
            return _bucket_counts(self.facts, line, state)
        kept, f01, f02, f03 = cols.early(line, STATE_BITS.get(state, 0))
        bucket = array("I", kept.astype(np.uint32).tobytes())
        if state in STATE_BITS:
            self.buckets[line, state] = bucket
            self.counts[line, state] = (f01, f02, f03)
        return bucket, (f01, f02, f03)


def _bucket_counts(
    facts: Sequence[CarrierFacts], line: str, state: str
) -> tuple[Bucket, EarlyCounts]:
    """Slow path for a (line, state) outside the canonical index."""
    f01 = f02 = f03 = 0
    kept = array("I")
    for f in facts:
        if carrier_inactive(f):
            f01 += 1
        elif line_not_written(line, f):
            f02 += 1
        elif state_not_available(state, f):
            f03 += 1
        else:
            kept.append(f.index)
    return kept, (f01, f02, f03)


def _name_ranks(carriers: Sequence[Carrier]) -> list[int]:
    """Position of each carrier in (name, carrier_id) code-point order, for carriers in
    carrier_id order: a stable sort by name alone leaves equal names in that order."""
    order = sorted(range(len(carriers)), key=list(map(attrgetter("name"), carriers)).__getitem__)
    ranks = [0] * len(carriers)
    for position, i in enumerate(order):
        ranks[i] = position
    return ranks


def _membership(facts: Sequence[CarrierFacts]) -> tuple[dict[str, int], dict[str, int]]:
    """(line -> the active carriers writing it, state -> the carriers available there).

    Each set of carriers is an integer holding one byte per carrier in pool order (1 for
    a member, else 0), so that intersections run in C; `compress(range(size), flags)`
    then gives the members' indices in ascending order."""
    size = len(facts)
    writes = {line: bytearray(size) for line in LINES}
    available = {state: bytearray(size) for state in STATES}
    for i, f in enumerate(facts):
        if not carrier_inactive(f):
            for line in f.line_points:
                writes[line][i] = 1
        for state in f.carrier.states:
            available[state][i] = 1
    return (
        {line: int.from_bytes(row, "little") for line, row in writes.items()},
        {state: int.from_bytes(row, "little") for state, row in available.items()},
    )


def prepare_pool(
    meta: PoolMeta, carriers: Sequence[Carrier], fields: Mapping[str, FieldColumn] | None = None
) -> PreparedPool:
    """Precompute the static facts and the (line, state) index of F01–F03 survivors.

    Carriers are put in carrier_id order (a no-op for a valid pool, which is sorted).
    `fields`, when given, holds the carriers' `facts.field_columns` (in their order here):
    `stored.read_stored_pool` gives them with the carriers it reads."""
    with gc_paused():  # no cycles made: see gcpause
        return _prepare(meta, carriers, fields)


def _prepare(
    meta: PoolMeta, carriers: Sequence[Carrier], fields: Mapping[str, FieldColumn] | None
) -> PreparedPool:
    ids = list(map(attrgetter("carrier_id"), carriers))
    if not all(map(le, ids, ids[1:])):  # (sorted: stable, as sorted(carriers, key=…) is)
        order = sorted(range(len(carriers)), key=ids.__getitem__)
        carriers = list(map(carriers.__getitem__, order))
        if fields is not None:
            fields = {name: column.permuted(order) for name, column in fields.items()}
    size = len(carriers)
    if size >= 1 << NAME_RANK_BITS:
        raise ValueError(f"a pool holds at most {(1 << NAME_RANK_BITS) - 1} carriers")
    facts, values = build_pool_facts(carriers, _name_ranks(carriers), fields)
    columns = build_columns(facts, values)
    del values
    if columns is not None:  # the (line, state) index is made from them when asked
        return PreparedPool(meta=meta, facts=facts, buckets={}, counts={}, columns=columns)
    inactive = sum(1 for f in facts if carrier_inactive(f))
    writes, available = _membership(facts)
    positions = range(size)
    buckets: dict[tuple[str, str], Bucket] = {}
    counts: dict[tuple[str, str], EarlyCounts] = {}
    for line in LINES:
        writers = writes[line].bit_count()  # one set bit per member
        not_written = size - inactive - writers
        for state in STATES:
            selected = (writes[line] & available[state]).to_bytes(size, "little")
            kept = array("I", compress(positions, selected))
            buckets[line, state] = kept
            counts[line, state] = (inactive, not_written, writers - len(kept))
    return PreparedPool(meta=meta, facts=facts, buckets=buckets, counts=counts)
