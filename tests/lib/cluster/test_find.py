"""Looking jobs up by name before submitting (idempotent submission): on every back end, `find` answers with
the job of each exact name, whatever its state, and only jobs submitted on or after `since`."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest

from lib.cluster import ArraySpec, LocalExecutor, LocalTransport, SlurmBackend
from tests.lib.cluster.conftest import Backend, stage
from tests.lib.cluster.test_slurm_backend import ScriptedTransport
from tests.support.slurm import SlurmCluster, Unavailable

TODAY = dt.date.today()


def unique(label: str) -> str:
    return f"lsv-find-{uuid.uuid4().hex[:8]}-{label}"


def test_each_exact_name_finds_its_job_in_any_state(backend: Backend, run_dir: Path):
    plain, array, missing = unique("setup-a1"), unique("work-a1"), unique("finish-a1")
    plain_id = backend.impl.submit(stage(run_dir, plain, "true"))
    array_id = backend.impl.submit(stage(run_dir, array, "sleep 60", array=ArraySpec.of_size(3, max_concurrent=1)))

    names = [plain, array, missing, plain + "0", plain[:-1], array.upper()]
    found = backend.impl.find(names, since=TODAY)
    assert found == {plain: plain_id, array: array_id}  # the array's base id, never `<id>_<task>`

    backend.wait([plain_id])
    backend.impl.cancel([array_id])
    backend.wait([array_id], arrays={array_id: 3})
    assert backend.impl.find(names, since=TODAY) == {plain: plain_id, array: array_id}  # ended jobs too
    assert backend.jobs_named(plain) == {plain_id}


def test_jobs_submitted_before_since_are_not_found_by_the_local_executor(tmp_path: Path, run_dir: Path):
    executor = LocalExecutor(tmp_path / "state")
    name = unique("setup-a1")
    job_id = executor.submit(stage(run_dir, name, "true"))
    assert LocalExecutor(tmp_path / "state").find([name], since=TODAY) == {name: job_id}  # any process
    assert executor.find([name], since=TODAY + dt.timedelta(days=1)) == {}


def test_names_that_are_not_job_names_never_reach_the_scheduler():
    transport = ScriptedTransport()
    for name in ("a,b", "a b", "$(touch pwned)", "", "x" * 129):
        with pytest.raises(ValueError):
            SlurmBackend(transport).find([name], since=TODAY)
    assert transport.calls == 0


def test_squeue_answers_first_and_sacct_only_for_the_names_it_did_not_know():
    transport = ScriptedTransport((0, "41|lsv-1-0-a-a1\n43|lsv-1-1-b-a1\n", ""), (0, "40_2|lsv-1-2-c-a1\n", ""))
    found = SlurmBackend(transport).find(["lsv-1-0-a-a1", "lsv-1-1-b-a1", "lsv-1-2-c-a1"], since=dt.date(2031, 5, 4))

    assert found == {"lsv-1-0-a-a1": "41", "lsv-1-1-b-a1": "43", "lsv-1-2-c-a1": "40"}
    squeue, sacct = transport.commands
    assert squeue[:2] == ["squeue", "--noheader"] and "--me" in squeue  # the cluster user's jobs only
    assert "--name=lsv-1-0-a-a1,lsv-1-1-b-a1,lsv-1-2-c-a1" in squeue
    assert sacct[0] == "sacct" and "--allusers" not in sacct  # sacct's default: the user's own jobs
    assert "--name=lsv-1-2-c-a1" in sacct and "--starttime=2031-05-04" in sacct


def test_a_name_used_twice_gives_the_first_job_and_a_failing_sacct_leaves_squeue_answering():
    transport = ScriptedTransport((0, "57|lsv-2-0-a-a1\n52|lsv-2-0-a-a1\n", ""), (1, "", "sacct: error: boom\n"))
    backend = SlurmBackend(transport)
    assert backend.find(["lsv-2-0-a-a1", "lsv-2-1-b-a1"], since=TODAY) == {"lsv-2-0-a-a1": "52"}
    assert backend.accounting is True  # one failure is not "accounting disabled"
    transport.answers = [(0, "", ""), (1, "", "sacct: error: Slurm accounting storage is disabled\n"), (0, "", "")]
    backend.find(["lsv-2-1-b-a1"], since=TODAY)
    backend.find(["lsv-2-1-b-a1"], since=TODAY)
    assert [c[0] for c in transport.commands[2:]] == ["squeue", "sacct", "squeue"]


def test_jobs_gone_from_the_controller_are_found_in_accounting(
    slurm_cluster: SlurmCluster | Unavailable, run_dir: Path
):
    """With a squeue that knows no job (as MinJobAge after the end), sacct finds it (the `since` window is
    sacct's --starttime, checked with the scripted transport above)."""
    if isinstance(slurm_cluster, Unavailable):
        pytest.skip(str(slurm_cluster).splitlines()[0])
    backend = SlurmBackend(LocalTransport(env=slurm_cluster.env))
    name = unique("setup-a1")
    job_id = backend.submit(stage(run_dir, name, "true"))
    Backend("slurm-local", backend).wait([job_id])
    no_queue = SlurmBackend(LocalTransport(env=slurm_cluster.env), squeue="true")

    # accounting lists a job by name a few seconds after it lists it by id (never before MinJobAge)
    deadline = time.monotonic() + 30
    while not (found := no_queue.find([name], since=TODAY)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert found == {name: job_id}
    assert no_queue.accounting is True
