"""The job-type registry: what each type declares, and the envelope reading it."""

from __future__ import annotations

import json

from nexio_lite import jobtypes
from nexio_lite.api.routes import ROUTES
from nexio_lite.envelope import envelope
from nexio_lite.models import Job, JobStatus

NOW = 1_750_000_000_000


def test_every_type_is_declared_once_with_a_served_create_route() -> None:
    names = [t.name for t in jobtypes.REGISTRY]
    assert names == ["evaluation", "screen_analysis", "decay_sweep", "metrics"]
    served = {f"{r.method} {r.path}" for r in ROUTES}
    for declared in jobtypes.REGISTRY:
        assert declared.create_route in served, declared
    assert jobtypes.SWEPT_TYPES == ("evaluation", "screen_analysis")
    assert jobtypes.MAINTENANCE_TYPES == ("decay_sweep", "metrics")


def test_runners_come_from_their_hosts() -> None:
    class Host:
        def __getattr__(self, name: str) -> str:
            return name

    found = jobtypes.runners({"scorer": Host(), "maintenance": Host()})
    assert found == {"evaluation": "run_job", "screen_analysis": "run_screen",
                     "decay_sweep": "decay_sweep", "metrics": "metrics"}  # fmt: skip
    assert set(jobtypes.runners({"scorer": Host()})) == {"evaluation", "screen_analysis"}


def _job(job_type: str, result: str) -> Job:
    return Job(seq=1, id="job_00000000000000000001", org_id="acme", type=job_type,
               status=JobStatus.COMPLETED, request="{}", created_at=NOW, updated_at=NOW,
               started_at=NOW, completed_at=NOW + 3, attempts=1, result=result)  # fmt: skip


def test_the_envelope_places_each_result_as_its_type_declares() -> None:
    screen = json.loads(envelope(_job("screen_analysis", '{"type":"analysis.screen.result"}'),
                                 "http://x"))  # fmt: skip
    assert screen["result"] == {"type": "analysis.screen.result"}
    assert not {"eval_id", "audit"} & set(screen)
    evaluation = json.loads(envelope(_job("evaluation", '{"pool_size":2}'), "http://x"))
    assert (evaluation["eval_id"], evaluation["pool_size"]) == (evaluation["id"], 2)
    assert evaluation["audit"] == f"http://x/traces/{evaluation['id']}"
    unknown = json.loads(envelope(_job("future_type", '{"n":1}'), "http://x"))
    assert unknown["n"] == 1
