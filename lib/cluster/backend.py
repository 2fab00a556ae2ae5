"""The one interface the product uses for cluster work, and the factory that picks a back end.

Back ends: `SlurmBackend` over `LocalTransport` (SLURM_TRANSPORT=local) or `SshTransport`
(SLURM_TRANSPORT=ssh), and `LocalExecutor` (CLUSTER_BACKEND=local, the DEV default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import Literal, Protocol, runtime_checkable

from .local import LocalExecutor
from .slurm import SlurmBackend
from .transport import LocalTransport, SshConfig, SshTransport
from .types import JobStatus, StageSpec


@runtime_checkable
class ClusterBackend(Protocol):
    def submit(self, stage: StageSpec) -> str:
        """Submit one stage; return its job id (digits only, no array suffix). Raises ClusterError."""
        ...

    def find(self, names: list[str], since: date) -> dict[str, str]:
        """Jobs of the cluster user with exactly these names, submitted on or after the day `since`:
        name → job id. Asked before submitting, so a stage submitted by a caller that died before
        recording the id is adopted instead of submitted twice."""
        ...

    def query(self, job_ids: list[str], array_sizes: Mapping[str, int] | None = None) -> dict[str, JobStatus]:
        """Status of many jobs in one scheduler call; jobs the scheduler does not report are absent.
        `array_sizes` maps array job ids to their task counts (SlurmJob.array_size), so a job whose
        tasks accounting does not show yet is not reported finished."""
        ...

    def cancel(self, job_ids: list[str]) -> None:
        """Cancel jobs (every array task); jobs that already ended are ignored."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def make_backend(
    kind: Literal["local", "slurm"],
    *,
    local_state_dir: str | os.PathLike[str] | None = None,
    transport: Literal["local", "ssh"] = "ssh",
    ssh: SshConfig | None = None,
    env: dict[str, str] | None = None,
) -> ClusterBackend:
    """Build the back end the settings ask for (CLUSTER_BACKEND, SLURM_TRANSPORT, SLURM_SSH_*)."""
    if kind == "local":
        if local_state_dir is None:
            raise ValueError("the local executor needs a state dir")
        return LocalExecutor(local_state_dir)
    if kind != "slurm":
        raise ValueError(f"unknown cluster back end {kind!r} (expected local or slurm)")
    if transport == "local":
        return SlurmBackend(LocalTransport(env=env))
    if transport == "ssh":
        if ssh is None:
            raise ValueError(
                "SLURM_TRANSPORT=ssh needs SLURM_SSH_HOST, SLURM_SSH_USER, SLURM_SSH_KEY_PATH, SLURM_KNOWN_HOSTS_PATH"
            )
        return SlurmBackend(SshTransport(ssh))
    raise ValueError(f"unknown Slurm transport {transport!r} (expected ssh or local)")
