"""A scripted scheduler for unit tests of the engine's database logic (the real back ends are tested in
tests/lib/cluster and, through the engine, in tests/runs/test_engine_real.py)."""

from __future__ import annotations

import itertools

from lib.cluster.types import JobStatus, SlurmState, StageSpec


class ScriptedBackend:
    def __init__(self, fail_submit_at: int | None = None):
        self.ids = itertools.count(1000)
        self.specs: dict[str, StageSpec] = {}
        self.states: dict[str, JobStatus] = {}
        self.cancelled: list[str] = []
        self.query_calls = 0
        self.submit_calls = 0
        self.find_calls = 0
        self.fail_submit_at = fail_submit_at

    def submit(self, spec: StageSpec) -> str:
        self.submit_calls += 1
        if self.fail_submit_at is not None and self.submit_calls == self.fail_submit_at:
            from lib.cluster.errors import ConnectionFailed

            raise ConnectionFailed("could not connect to login.cluster.example port 22 (timed out)")
        job_id = str(next(self.ids))
        self.specs[job_id] = spec
        self.states[job_id] = JobStatus(job_id, SlurmState.PENDING, "PENDING")
        return job_id

    def find(self, names, since):
        self.find_calls += 1
        return {spec.name: job_id for job_id, spec in self.specs.items() if spec.name in names}

    def set(self, job_id: str, state: str, raw: str | None = None, exit_code: str = "0:0", array_done=None):
        self.states[job_id] = JobStatus(job_id, SlurmState(state), raw or state, exit_code, array_done=array_done)

    def query(self, job_ids, array_sizes=None):
        self.query_calls += 1
        return {j: self.states[j] for j in job_ids if j in self.states}

    def cancel(self, job_ids):
        for j in job_ids:
            self.cancelled.append(j)
            if j in self.states and not self.states[j].is_terminal:
                self.set(j, "CANCELLED", "CANCELLED by 0")

    def forget(self, job_id: str):
        self.states.pop(job_id, None)
