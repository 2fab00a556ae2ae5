"""The same scenarios on every back end: local executor, Slurm via LocalTransport, Slurm via SSH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lib.cluster import ARRAY_INDEX, ArraySpec, SlurmBackend, SlurmState, StageSpec
from tests.lib.cluster.conftest import Backend, stage


def test_a_three_stage_run_with_an_array_stage_succeeds(backend: Backend, run_dir: Path):
    first = backend.impl.submit(stage(run_dir, "setup", "echo ready > setup.txt; echo setup done"))
    second = backend.impl.submit(
        stage(
            run_dir,
            "blend",
            'test -f setup.txt && echo "plane $1" > "blend_$SLURM_ARRAY_TASK_ID.txt"',
            array=ArraySpec.of_size(3, max_concurrent=2),
            args=(ARRAY_INDEX,),
            dependencies=(first,),
        )
    )
    third = backend.impl.submit(
        stage(run_dir, "downsize", "cat blend_*.txt > all.txt; echo combined", dependencies=(second,))
    )
    for job_id in (first, second, third):
        assert job_id.isdigit()  # one string id, never a list, never an array suffix

    statuses = backend.wait([first, second, third], arrays={second: 3})

    assert [statuses[j].state for j in (first, second, third)] == [SlurmState.COMPLETED] * 3
    assert statuses[second].array_size == 3 and statuses[second].array_done == 3
    assert statuses[first].array_size is None
    assert statuses[first].exit_code == "0:0"
    assert statuses[first].started_at is not None and statuses[third].ended_at is not None
    assert statuses[first].ended_at <= statuses[third].started_at  # type: ignore[operator]
    assert (run_dir / "all.txt").read_text() == "plane 0\nplane 1\nplane 2\n"
    assert (run_dir / f"setup_{first}_4294967294.out").read_text() == "setup done\n"
    assert (run_dir / f"downsize_{third}_4294967294.out").read_text() == "combined\n"
    assert sorted(p.name for p in run_dir.glob("blend_*_*.err")) == [f"blend_{second}_{i}.err" for i in range(3)]
    assert (run_dir / "setup.sbatch").exists()  # the batch script is written to the run folder


def test_a_failing_stage_fails_with_its_exit_code_and_its_dependents_never_run(backend: Backend, run_dir: Path):
    failing = backend.impl.submit(stage(run_dir, "register", "echo 'elastix: no transform' >&2; exit 3"))
    dependent = backend.impl.submit(stage(run_dir, "detect", "touch detect_ran", dependencies=(failing,)))
    array_dependent = backend.impl.submit(
        stage(run_dir, "cells", "touch cells_ran", array=ArraySpec.of_size(2), dependencies=(dependent,))
    )

    statuses = backend.wait([failing, dependent, array_dependent], arrays={array_dependent: 2})

    assert statuses[failing].state is SlurmState.FAILED
    assert statuses[failing].exit_code == "3:0"
    assert statuses[dependent].state is SlurmState.CANCELLED
    assert statuses[array_dependent].state is SlurmState.CANCELLED
    assert not (run_dir / "detect_ran").exists() and not (run_dir / "cells_ran").exists()
    assert "elastix: no transform" in (run_dir / f"register_{failing}_4294967294.err").read_text()


def test_cancelling_a_running_stage_cancels_it_and_its_dependents(backend: Backend, run_dir: Path):
    running = backend.impl.submit(stage(run_dir, "stitch", "echo started; sleep 120", array=ArraySpec.of_size(2)))
    dependent = backend.impl.submit(stage(run_dir, "downsize", "touch ran", dependencies=(running,)))
    backend.wait([running], arrays={running: 2}, until="running", timeout=30)

    backend.impl.cancel([running])
    statuses = backend.wait([running, dependent], arrays={running: 2}, timeout=30)

    assert statuses[running].state is SlurmState.CANCELLED
    assert statuses[running].raw_state == f"CANCELLED by {os.getuid()}"
    assert statuses[dependent].state is SlurmState.CANCELLED
    assert not (run_dir / "ran").exists()
    backend.impl.cancel([running, dependent])  # cancelling finished jobs again is harmless


def test_a_query_of_many_jobs_is_one_scheduler_call(backend: Backend, run_dir: Path):
    ids = [backend.impl.submit(stage(run_dir, f"info{i}", "true")) for i in range(3)]
    ids.append(backend.impl.submit(stage(run_dir, "upload", "true", array=ArraySpec.of_size(3))))
    backend.wait(ids, arrays={ids[-1]: 3})

    before = backend.calls
    statuses = backend.impl.query(ids + ["999999"], {ids[-1]: 3})
    assert backend.calls - before == 1
    assert set(statuses) == set(ids)  # a job the scheduler does not know is absent, not an error
    assert statuses[ids[-1]].array_done == 3


def test_a_stage_over_its_memory_is_stopped(backend: Backend, run_dir: Path):
    hog = (
        "import time\n"
        "block = b'x' * (600 * 1024 * 1024)  # touches every page\n"
        "print('allocated', flush=True)\n"
        "time.sleep(20)\n"
    )
    spec = StageSpec(
        name="hog",
        argv=(sys.executable, "-c", hog),
        workdir=str(run_dir),
        stdout=str(run_dir / "hog_%A.out"),
        stderr=str(run_dir / "hog_%A.err"),
        resources=stage(run_dir, "x", "true", mem_gb=0.25).resources,
    )
    job_id = backend.impl.submit(spec)

    status = backend.wait([job_id], timeout=60)[job_id]

    stderr = (run_dir / f"hog_{job_id}.err").read_text()
    if isinstance(backend.impl, SlurmBackend):
        # Without cgroups (task/cgroup) Slurm enforces --mem through jobacct_gather OverMemoryKill: the
        # step is killed with SIGKILL and accounting says FAILED 0:9, not OUT_OF_MEMORY (which needs
        # task/cgroup's OOM notification). The OUT_OF_MEMORY mapping is tested on captured sacct text.
        assert status.state is SlurmState.FAILED and status.exit_code == "0:9"
        assert "exceeded memory limit" in stderr
    else:
        assert status.state is SlurmState.OUT_OF_MEMORY
        assert "MemoryError" in stderr
