"""The job types, declared once (docs/job-types.md).

Every job type says here what the rest of the service needs to know about it: its name
(the envelope's `type`, the `?type=` filter, the metrics `type` label), the prefix of its
ids, the route that creates it, what runs it, how its result enters the envelope, whether
it has a trace, and whether `decay_sweep` removes it. The worker, the envelope, the
retention sweep, the job listing, /openapi.json and the metrics read this table instead
of naming types. This module imports nothing of the service, so any module may read it.

A type whose work is a pure function of its request names a `package` (the import path
of a module following `nexio_lite.verticals.package.JobPackage`): its create route,
request validation, OpenAPI operation and runner then come from the generic machinery,
so adding such a type is that package and one line in `REGISTRY` (docs/job-types.md).
`register` adds a type at run time, before the app is built (the tests' example type).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import attrs


class ResultIn(enum.StrEnum):
    """Where a completed job's stored result goes in its envelope."""

    TOP_LEVEL = "top_level"  # the stored JSON object's fields, spliced after the head
    RESULT = "result"  # the stored JSON value, as the envelope's `result` field


class Trace(enum.StrEnum):
    """What `GET /traces/{id}` answers for a completed job of the type."""

    NONE = "none"  # 404
    RECOMPUTED = "recomputed"  # rebuilt on demand in a scoring process (evaluations)
    STORED = "stored"  # kept with the job as JSON (`Job.stages`) and sent as it is


@attrs.frozen
class JobType:
    """One job type. `runs_on` names the object that runs it (`"scorer"`: the server's
    `scoring.Scorer`, which sends the work to a scoring process; `"maintenance"`:
    `maintenance.MaintenanceRunners`, database work in the server process) and `runner`
    the method of that object that takes a `Job` and returns a `worker.Outcome`. A
    `package` type runs on the scorer's `run_package`."""

    name: str
    id_prefix: str
    create_route: str  # "METHOD /path" of the endpoint that queues it
    runs_on: str
    runner: str
    result_in: ResultIn = ResultIn.TOP_LEVEL
    trace: Trace = Trace.NONE
    swept: bool = False  # removed by decay_sweep once terminal and old (API.md §7)
    eval_id: bool = False  # the envelope repeats `id` as `eval_id` (seed compatibility)
    audit: bool = False  # a completed job's envelope links its trace as `audit`
    package: str = ""  # import path of its `JobPackage` (generic create route and runner)

    @property
    def method(self) -> str:
        return self.create_route.partition(" ")[0]

    @property
    def path(self) -> str:
        return self.create_route.partition(" ")[2]


EVALUATION = "evaluation"
SCREEN_ANALYSIS = "screen_analysis"
DECAY_SWEEP = "decay_sweep"
METRICS = "metrics"

REGISTRY: tuple[JobType, ...] = (
    JobType(EVALUATION, "eval_", "POST /api/v1/jobs", "scorer", "run_job",
            trace=Trace.RECOMPUTED, swept=True, eval_id=True, audit=True),
    JobType(SCREEN_ANALYSIS, "job_", "POST /api/v1/analysis/screen", "scorer", "run_screen",
            result_in=ResultIn.RESULT, trace=Trace.STORED, swept=True),
    JobType(DECAY_SWEEP, "job_", "POST /api/v1/maintenance/jobs", "maintenance", "decay_sweep"),
    JobType(METRICS, "job_", "POST /api/v1/maintenance/jobs", "maintenance", "metrics"),
)  # fmt: skip

_registered: list[JobType] = list(REGISTRY)
BY_NAME: dict[str, JobType] = {t.name: t for t in REGISTRY}


def register(declared: JobType) -> None:
    """Add a job type (a plug-in or a test's example) before the app is built: the
    routes, /openapi.json, metrics labels and the worker's runners are read then."""
    if declared.name in BY_NAME:
        raise ValueError(f"job type {declared.name!r} is declared already")
    _registered.append(declared)
    BY_NAME[declared.name] = declared


def unregister(name: str) -> None:
    """Remove a type added by `register` (tests)."""
    if any(t.name == name for t in REGISTRY):
        raise ValueError(f"job type {name!r} is built in")
    _registered[:] = [t for t in _registered if t.name != name]
    BY_NAME.pop(name, None)


def registry() -> tuple[JobType, ...]:
    """Every declared type: the built-in ones, then the registered ones."""
    return tuple(_registered)


def names() -> tuple[str, ...]:
    return tuple(t.name for t in _registered)


def swept_names() -> tuple[str, ...]:
    """The types `decay_sweep` removes once terminal and old."""
    return tuple(t.name for t in _registered if t.swept)


def maintenance_names() -> tuple[str, ...]:
    return tuple(t.name for t in _registered if t.runs_on == "maintenance")


def traced_names() -> tuple[str, ...]:
    """The types `GET /traces/{id}` answers for."""
    return tuple(t.name for t in _registered if t.trace is not Trace.NONE)


def packaged() -> tuple[JobType, ...]:
    """The types made by the generic machinery from a `package`."""
    return tuple(t for t in _registered if t.package)


# A stored job of a type no longer declared (a newer server wrote it) renders plainly.
_UNKNOWN = JobType("", "job_", "", "", "")


def job_type(name: str) -> JobType:
    """The declaration of `name` (a plain one for a type this server does not know)."""
    return BY_NAME.get(name, _UNKNOWN)


def runners(hosts: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """The worker's runner per job type, from the objects that run them (`runs_on` ->
    object); types whose host is not given are left out (the worker fails such a job with
    `unknown_job_type`)."""
    return {t.name: getattr(hosts[t.runs_on], t.runner) for t in _registered if t.runs_on in hosts}
