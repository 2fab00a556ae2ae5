"""Stage specifications refuse what Slurm (or a shell) would misread; states carry their class."""

from __future__ import annotations

import pytest

from lib.cluster import TERMINAL_STATES, ArraySpec, Resources, SlurmState, StageSpec
from lib.cluster.types import time_limit_seconds


def spec(**overrides) -> StageSpec:
    values = dict(name="lsv-3-blend", argv=("true",), workdir="/data", stdout="/data/o", stderr="/data/e")
    values.update(overrides)
    return StageSpec(**values)


def test_time_limits_in_both_slurm_forms():
    assert time_limit_seconds("02:00:00") == 7200
    assert time_limit_seconds("1-06:00:00") == 30 * 3600
    for bad in ("2h", "00:61:00", "1-2", ""):
        with pytest.raises(ValueError):
            Resources(time_limit=bad)


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "lsv 3"},
        {"name": "x;rm"},
        {"argv": ()},
        {"dependencies": ("12_3",)},
        {"dependencies": ("12,13",)},
        {"env": {"BAD-NAME": "x"}},
        {"stdout": "/data/o\n#SBATCH --uid=0"},
    ],
)
def test_stage_specs_refuse_values_slurm_or_a_shell_would_misread(overrides):
    with pytest.raises(ValueError):
        spec(**overrides)


def test_resources_refuse_odd_partitions_and_accounts():
    with pytest.raises(ValueError):
        Resources(partition="all --uid=0")
    with pytest.raises(ValueError):
        Resources(account="a,b;c")
    assert Resources(mem_gb=0.25).mem_mb == 256


def test_arrays():
    assert ArraySpec.of_size(40, max_concurrent=8).sbatch_value() == "0-39%8"
    assert ArraySpec(3, 5).size == 3
    with pytest.raises(ValueError):
        ArraySpec.of_size(0)


def test_state_classes_follow_the_spec_table():
    assert SlurmState.SUSPENDED.state_class == "running" and not SlurmState.SUSPENDED.is_terminal
    assert SlurmState.OUT_OF_MEMORY.state_class == "failed"
    assert SlurmState.UNKNOWN.is_terminal
    assert TERMINAL_STATES == {
        SlurmState.COMPLETED,
        SlurmState.FAILED,
        SlurmState.CANCELLED,
        SlurmState.TIMEOUT,
        SlurmState.OUT_OF_MEMORY,
        SlurmState.NODE_FAIL,
        SlurmState.BOOT_FAIL,
        SlurmState.DEADLINE,
        SlurmState.PREEMPTED,
        SlurmState.REVOKED,
        SlurmState.UNKNOWN,
    }
