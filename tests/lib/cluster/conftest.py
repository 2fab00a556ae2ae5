"""Fixtures for the cluster tests: a real one-node Slurm, a loopback sshd, and a `backend` fixture that
runs each scenario on the local executor, on Slurm via LocalTransport and on Slurm via SshTransport.

A back end whose components cannot be provisioned makes its tests skip with a reason naming the
component (see tests/support/slurm.py and tests/support/sshd.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib.cluster import (
    ArraySpec,
    Resources,
    StageSpec,
)
from tests.support.cluster_fixtures import BACKENDS, Backend, ssh_config  # noqa: F401  (shared fixtures)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder readable by the job processes (Slurm runs them as the submitting user, root here)."""
    os.chmod(tmp_path, 0o755)
    return tmp_path


def stage(
    run_dir: Path,
    name: str,
    script: str,
    *,
    array: ArraySpec | None = None,
    dependencies: tuple[str, ...] = (),
    mem_gb: float = 0.25,
    time_limit: str = "00:05:00",
    args: tuple[str, ...] = (),
) -> StageSpec:
    """A stage running a bash snippet (one argv word; `args` are its $1...) with logs `<name>_%A_%a.out/.err`."""
    return StageSpec(
        name=name,
        argv=("bash", "-c", script, name, *args),
        workdir=str(run_dir),
        stdout=str(run_dir / f"{name}_%A_%a.out"),
        stderr=str(run_dir / f"{name}_%A_%a.err"),
        resources=Resources(cpus=1, mem_gb=mem_gb, time_limit=time_limit),
        array=array,
        dependencies=dependencies,
    )
