"""A stage over its time limit ends in TIMEOUT on every back end.

Slurm checks time limits about every 30 s, so a 1-minute limit ends after 60-90 s. To keep the run short
the over-long stage is submitted to every available back end at once (the first time any of these tests
runs) and each test then waits for its own; this file runs last so nothing else waits behind them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.cluster import SlurmState
from tests.lib.cluster.conftest import Backend, stage
from tests.support.slurm import Unavailable


@pytest.fixture(scope="module")
def over_time_jobs(
    backends: dict[str, Backend | Unavailable], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, Path]]:
    submitted = {}
    for kind, made in backends.items():
        if isinstance(made, Backend):
            run_dir = tmp_path_factory.mktemp(f"timeout-{kind}")
            run_dir.chmod(0o755)
            spec = stage(run_dir, "register", "echo started; sleep 600", time_limit="00:01:00")
            submitted[kind] = (made.impl.submit(spec), run_dir)
    return submitted


def test_a_stage_over_its_time_limit_times_out(backend: Backend, over_time_jobs: dict[str, tuple[str, Path]]):
    job_id, run_dir = over_time_jobs[backend.kind]

    status = backend.wait([job_id], timeout=150)[job_id]

    assert status.state is SlurmState.TIMEOUT
    assert status.started_at is not None and status.ended_at is not None
    assert 55 <= (status.ended_at - status.started_at).total_seconds() <= 125
    log = (run_dir / f"register_{job_id}_4294967294.err").read_text()
    assert "DUE TO TIME LIMIT" in log
