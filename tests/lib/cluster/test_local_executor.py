"""What is particular to the local executor: state on disk shared between processes, detached
supervisors, lost supervisors, array concurrency, the task environment and limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.cluster import ArraySpec, LocalExecutor, SlurmState, SubmissionRejected
from tests.lib.cluster.conftest import Backend, stage

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def executor(tmp_path: Path) -> Backend:
    return Backend("local", LocalExecutor(tmp_path / "state"))


def test_jobs_outlive_the_process_that_submitted_them(tmp_path: Path, run_dir: Path):
    state = tmp_path / "state"
    submitter = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from lib.cluster import LocalExecutor
from tests.lib.cluster.conftest import stage
from pathlib import Path
ex = LocalExecutor({str(state)!r})
print(ex.submit(stage(Path({str(run_dir)!r}), "setup", "sleep 2; echo done > out.txt")))
"""
    started = time.monotonic()
    job_id = subprocess.run(
        [sys.executable, "-c", submitter], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert time.monotonic() - started < 10  # the submitter did not wait for the job

    other_process_view = Backend("local", LocalExecutor(state))
    assert other_process_view.impl.query([job_id])[job_id].state in (SlurmState.PENDING, SlurmState.RUNNING)
    status = other_process_view.wait([job_id], timeout=30)[job_id]

    assert status.state is SlurmState.COMPLETED
    assert (run_dir / "out.txt").read_text() == "done\n"
    record = json.loads((state / "jobs" / f"{job_id}.json").read_text())
    assert record["tasks"]["-"]["state"] == "COMPLETED"


def test_a_job_whose_supervisor_died_is_reported_as_a_node_failure(executor: Backend, run_dir: Path):
    job_id = executor.impl.submit(stage(run_dir, "stitch", "sleep 60"))
    executor.wait([job_id], until="running", timeout=20)
    record = json.loads((executor.impl.store.path(job_id)).read_text())  # type: ignore[attr-defined]

    os.kill(record["supervisor"]["pid"], signal.SIGKILL)
    os.killpg(record["tasks"]["-"]["pid"], signal.SIGKILL)
    time.sleep(0.5)

    status = executor.wait([job_id], timeout=10)[job_id]
    assert status.state is SlurmState.NODE_FAIL


def test_an_unknown_dependency_is_refused(executor: Backend, run_dir: Path):
    with pytest.raises(SubmissionRejected, match="Job dependency problem"):
        executor.impl.submit(stage(run_dir, "detect", "true", dependencies=("424242",)))


def test_a_dependency_that_already_failed_cancels_the_new_job(executor: Backend, run_dir: Path):
    failed = executor.impl.submit(stage(run_dir, "setup", "exit 1"))
    executor.wait([failed])
    dependent = executor.impl.submit(stage(run_dir, "blend", "touch ran", dependencies=(failed,)))
    assert executor.wait([dependent], timeout=20)[dependent].state is SlurmState.CANCELLED
    assert not (run_dir / "ran").exists()


def test_array_tasks_respect_the_concurrency_cap_and_see_slurm_variables(executor: Backend, run_dir: Path):
    script = (
        'echo "$SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT $SLURM_JOB_NAME"'
        " > env_$SLURM_ARRAY_TASK_ID;"
        "date +%s.%N > start_$SLURM_ARRAY_TASK_ID; sleep 0.4; date +%s.%N > end_$SLURM_ARRAY_TASK_ID;"
        "ulimit -v > limit_$SLURM_ARRAY_TASK_ID"
    )
    job_id = executor.impl.submit(stage(run_dir, "upload", script, array=ArraySpec(2, 4, max_concurrent=1)))

    status = executor.wait([job_id], timeout=30)[job_id]

    assert status.state is SlurmState.COMPLETED and status.array_done == 3
    spans = sorted(
        (float((run_dir / f"start_{i}").read_text()), float((run_dir / f"end_{i}").read_text())) for i in (2, 3, 4)
    )
    assert all(previous[1] <= following[0] for previous, following in zip(spans, spans[1:]))
    assert (run_dir / "env_3").read_text() == f"{job_id} 3 3 upload\n"
    assert (run_dir / "limit_2").read_text().strip() == str(256 * 1024)  # RLIMIT_AS in KiB = mem_gb 0.25


def test_each_job_is_one_json_file_in_the_state_dir(executor: Backend, run_dir: Path, tmp_path: Path):
    ids = [executor.impl.submit(stage(run_dir, f"info{i}", "true")) for i in range(2)]
    executor.wait(ids)
    files = sorted(p.name for p in (tmp_path / "state" / "jobs").glob("*.json"))
    assert files == sorted(f"{i}.json" for i in ids)
    assert not list((tmp_path / "state" / "jobs").glob(".*"))  # no temporary files left behind
