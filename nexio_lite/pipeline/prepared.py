"""Everything that depends only on the pool version, computed once (`prepare_pool`).

Guarantees: `facts` are in pool order (carrier_id ascending); `bucket(line, state)`
lists, in pool order, exactly the carriers that pass F01–F03 for that line and state;
`early_counts(line, state)` counts the carriers whose first failing rule is F01, F02
and F03 respectively.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from nexio_lite.pipeline.facts import NAME_RANK_BITS, CarrierFacts, build_facts
from nexio_lite.pipeline.rules import carrier_inactive, line_not_written, state_not_available
from nexio_lite.pipeline.schema import LINES, STATES, Carrier, PoolMeta

Bucket = tuple[CarrierFacts, ...]
EarlyCounts = tuple[int, int, int]


@attrs.frozen(slots=True)
class PreparedPool:
    """A pool version ready for evaluation; immutable after `prepare_pool`."""

    meta: PoolMeta
    carriers: tuple[Carrier, ...]
    facts: tuple[CarrierFacts, ...]
    buckets: dict[tuple[str, str], Bucket]
    counts: dict[tuple[str, str], EarlyCounts]

    @property
    def size(self) -> int:
        return len(self.facts)

    def bucket(self, line: str, state: str) -> Bucket:
        """Carriers passing F01–F03 for (line, state), in pool order."""
        found = self.buckets.get((line, state))
        return found if found is not None else _bucket_counts(self.facts, line, state)[0]

    def early_counts(self, line: str, state: str) -> EarlyCounts:
        """(F01, F02, F03) primary-reason counts for (line, state)."""
        found = self.counts.get((line, state))
        return found if found is not None else _bucket_counts(self.facts, line, state)[1]


def _bucket_counts(
    facts: Sequence[CarrierFacts], line: str, state: str
) -> tuple[Bucket, EarlyCounts]:
    """Slow path for a (line, state) outside the canonical index."""
    f01 = f02 = f03 = 0
    kept: list[CarrierFacts] = []
    for f in facts:
        if carrier_inactive(f):
            f01 += 1
        elif line_not_written(line, f):
            f02 += 1
        elif state_not_available(state, f):
            f03 += 1
        else:
            kept.append(f)
    return tuple(kept), (f01, f02, f03)


def _name_ranks(carriers: Sequence[Carrier]) -> list[int]:
    """Position of each carrier in (name, carrier_id) code-point order."""
    order = sorted(range(len(carriers)), key=lambda i: (carriers[i].name, carriers[i].carrier_id))
    ranks = [0] * len(carriers)
    for position, i in enumerate(order):
        ranks[i] = position
    return ranks


def prepare_pool(meta: PoolMeta, carriers: Sequence[Carrier]) -> PreparedPool:
    """Precompute the static facts and the (line, state) index of F01–F03 survivors.

    Carriers are put in carrier_id order (a no-op for a valid pool, which is sorted)."""
    carriers = sorted(carriers, key=lambda c: c.carrier_id)
    if len(carriers) >= 1 << NAME_RANK_BITS:
        raise ValueError(f"a pool holds at most {(1 << NAME_RANK_BITS) - 1} carriers")
    ranks = _name_ranks(carriers)
    facts = tuple(build_facts(i, c, ranks[i]) for i, c in enumerate(carriers))
    inactive = sum(1 for f in facts if carrier_inactive(f))
    buckets: dict[tuple[str, str], Bucket] = {}
    counts: dict[tuple[str, str], EarlyCounts] = {}
    for line in LINES:
        writers = [f for f in facts if not carrier_inactive(f) and not line_not_written(line, f)]
        not_written = len(facts) - inactive - len(writers)
        for state in STATES:
            kept = tuple(f for f in writers if not state_not_available(state, f))
            buckets[line, state] = kept
            counts[line, state] = (inactive, not_written, len(writers) - len(kept))
    return PreparedPool(
        meta=meta, carriers=tuple(carriers), facts=facts, buckets=buckets, counts=counts
    )
