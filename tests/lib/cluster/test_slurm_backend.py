"""SlurmBackend: the batch script and sbatch options, submission failures, the squeue fallback, batching.

Unit tests of the code around the boundary use a scripted transport; the rest run on the real Slurm.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from lib.cluster import (
    ARRAY_INDEX,
    ArraySpec,
    CommandFailed,
    CommandResult,
    LocalTransport,
    Resources,
    SlurmBackend,
    SlurmState,
    StageSpec,
    SubmissionRejected,
    UnparsableOutput,
    batch_script,
    sbatch_args,
)
from tests.lib.cluster.conftest import Backend, stage
from tests.support.slurm import SlurmCluster, Unavailable


class ScriptedTransport:
    """Answers each command with the next scripted result and records what was run."""

    def __init__(self, *answers: tuple[int, str, str]):
        self.answers = list(answers)
        self.commands: list[list[str]] = []
        self.files: dict[str, str] = {}
        self.calls = 0

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        self.calls += 1
        self.commands.append(list(argv))
        code, out, err = self.answers.pop(0) if self.answers else (0, "", "")
        return CommandResult(tuple(argv), code, out, err)

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        self.files[path] = text

    def close(self) -> None:
        pass


HOSTILE = ["a b", "it's", '"double"', "$(touch pwned)", "`touch pwned`", "; touch pwned", "two\nlines", ""]


def hostile_stage(tmp_path: Path, **kw) -> StageSpec:
    return StageSpec(
        name="lsv-12-register",
        argv=("printf", "<%s>\\n", *HOSTILE, f"--task={ARRAY_INDEX}"),
        workdir=str(tmp_path),
        stdout=str(tmp_path / "stage_3_%A_%a.out"),
        stderr=str(tmp_path / "stage_3_%A_%a.err"),
        resources=Resources(cpus=8, mem_gb=32, time_limit="1-06:00:00", partition="all", account="brody"),
        env={"PARAMS": "/data/params $(x).json"},
        **kw,
    )


def test_the_batch_script_passes_every_argument_literally(tmp_path: Path):
    script = tmp_path / "job.sbatch"
    script.write_text(batch_script(hostile_stage(tmp_path)))

    out = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env={"SLURM_ARRAY_TASK_ID": "4", "PATH": "/usr/bin:/bin"}
    )

    expected = "".join(f"<{a}>\n" for a in HOSTILE) + "<--task=4>\n"
    assert out.returncode == 0 and out.stdout == expected
    assert not (tmp_path / "pwned").exists()


def test_sbatch_options_carry_resources_array_and_dependencies(tmp_path: Path):
    spec = hostile_stage(tmp_path, array=ArraySpec.of_size(10, max_concurrent=3), dependencies=("101", "102"))
    args = sbatch_args(spec)
    assert args[0] == "--parsable"
    for option in (
        "--job-name=lsv-12-register",
        f"--output={tmp_path}/stage_3_%A_%a.out",
        f"--error={tmp_path}/stage_3_%A_%a.err",
        "--cpus-per-task=8",
        "--mem=32768M",
        "--time=1-06:00:00",
        "--partition=all",
        "--account=brody",
        "--array=0-9%3",
        "--dependency=afterok:101:102",
        "--kill-on-invalid-dep=yes",
    ):
        assert option in args
    assert not any(a.startswith("--dependency") for a in sbatch_args(hostile_stage(tmp_path)))


@pytest.mark.parametrize(
    ("printed", "job_id"),
    [("4242\n", "4242"), ("4243;cluster2\n", "4243"), ("sbatch: warning: something\n4244\n", "4244")],
)
def test_the_printed_job_id_is_stored_without_cluster(tmp_path: Path, printed: str, job_id: str):
    transport = ScriptedTransport((0, printed, ""))
    assert SlurmBackend(transport).submit(hostile_stage(tmp_path)) == job_id
    assert transport.commands[0][-1] == f"{tmp_path}/lsv-12-register.sbatch"
    assert f"{tmp_path}/lsv-12-register.sbatch" in transport.files


def test_unparsable_sbatch_output_is_its_own_error(tmp_path: Path):
    backend = SlurmBackend(ScriptedTransport((0, "Submitted batch job 12\n", "")))
    with pytest.raises(UnparsableOutput, match="job id printed by sbatch"):
        backend.submit(hostile_stage(tmp_path))


def test_a_rejected_submission_says_why(tmp_path: Path):
    stderr = "sbatch: error: Batch job submission failed: Invalid account or account/partition combination\n"
    backend = SlurmBackend(ScriptedTransport((1, "", stderr)))
    with pytest.raises(SubmissionRejected, match="Invalid account") as caught:
        backend.submit(hostile_stage(tmp_path))
    assert caught.value.first_line.startswith("sbatch refused lsv-12-register: sbatch: error: Batch job")


def test_queries_are_batched_by_200_ids():
    transport = ScriptedTransport()
    SlurmBackend(transport).query([str(i) for i in range(1, 451)])
    assert transport.calls == 3
    assert transport.commands[0][-1].count(",") == 199


def test_disabled_accounting_switches_to_squeue_for_good():
    squeue_line = "7|COMPLETED|0|2026-11-25T07:32:05|2026-11-25T07:32:07|\n"
    transport = ScriptedTransport(
        (1, "", "sacct: error: Slurm accounting storage is disabled\n"), (0, squeue_line, ""), (0, squeue_line, "")
    )
    backend = SlurmBackend(transport)
    assert backend.query(["7"])["7"].state is SlurmState.COMPLETED
    assert backend.query(["7"])["7"].exit_code == "0:0"
    assert [c[0] for c in transport.commands] == ["sacct", "squeue", "squeue"]


def test_scheduler_command_failures_raise():
    backend = SlurmBackend(ScriptedTransport((1, "", "sacct: error: boom\n"), (1, "", "squeue: error: also boom\n")))
    with pytest.raises(CommandFailed, match="sacct exited with status 1: sacct: error: boom"):
        backend.query(["7"])
    finished = "scancel: error: Kill job error on job id 7: Job/step already completing or completed\n"
    SlurmBackend(ScriptedTransport((1, "", finished))).cancel(["7"])
    with pytest.raises(CommandFailed, match="scancel"):
        SlurmBackend(ScriptedTransport((1, "", "scancel: error: Access/permission denied\n"))).cancel(["7"])


def test_job_ids_that_are_not_ids_are_refused_before_reaching_the_shell():
    with pytest.raises(ValueError):
        SlurmBackend(ScriptedTransport()).query(["1;touch pwned"])
    with pytest.raises(ValueError):
        SlurmBackend(ScriptedTransport()).cancel(["1 2"])


# -- on the real Slurm ------------------------------------------------------------------------------
@pytest.fixture(params=["slurm-local", "slurm-ssh"])
def slurm(request: pytest.FixtureRequest, backends: dict[str, Backend | Unavailable]) -> Backend:
    made = backends[request.param]
    if isinstance(made, Unavailable):
        pytest.skip(str(made).splitlines()[0])
    return made


def test_slurm_rejects_an_unknown_partition(slurm: Backend, run_dir: Path):
    spec = stage(run_dir, "info", "true")
    spec = StageSpec(**{**spec.__dict__, "resources": Resources(mem_gb=0.25, partition="nosuchpartition")})
    with pytest.raises(SubmissionRejected, match="Invalid partition"):
        slurm.impl.submit(spec)


def test_without_sacct_the_state_comes_from_squeue(slurm_cluster: SlurmCluster | Unavailable, run_dir: Path):
    if isinstance(slurm_cluster, Unavailable):
        pytest.skip(str(slurm_cluster).splitlines()[0])
    backend = SlurmBackend(LocalTransport(env=slurm_cluster.env), sacct=str(run_dir / "no-sacct"))
    ok = backend.submit(stage(run_dir, "ok", "true", array=ArraySpec.of_size(2)))
    bad = backend.submit(stage(run_dir, "bad", "exit 4"))

    statuses = Backend("slurm-local", backend).wait([ok, bad], arrays={ok: 2})

    assert backend.accounting is False
    assert statuses[ok].state is SlurmState.COMPLETED and statuses[ok].array_done == 2
    assert statuses[bad].state is SlurmState.FAILED and statuses[bad].exit_code == "4:0"
    before = backend.transport.calls
    backend.query([ok, bad])
    assert backend.transport.calls - before == 1
