"""Cluster jobs for the processing pipelines: one interface, three back ends.

No Flask or Celery here: the poller and the submission service (later issues) call these functions with
plain values and store what they return.
"""

from .accounting import parse_sacct, parse_squeue, parse_state, pool_job, pool_tasks
from .backend import ClusterBackend, make_backend
from .errors import (
    AuthenticationFailed,
    ClusterError,
    CommandFailed,
    CommandTimedOut,
    ConnectionFailed,
    HostKeyRejected,
    SchedulerError,
    SubmissionRejected,
    TransportError,
    UnparsableOutput,
)
from .local import LocalExecutor
from .slurm import SlurmBackend, batch_script, sbatch_args
from .transport import CommandResult, LocalTransport, SshConfig, SshTransport, Transport
from .types import ARRAY_INDEX, TERMINAL_STATES, ArraySpec, JobStatus, Resources, SlurmState, StageSpec

__all__ = [
    "ARRAY_INDEX",
    "TERMINAL_STATES",
    "ArraySpec",
    "AuthenticationFailed",
    "ClusterBackend",
    "ClusterError",
    "CommandFailed",
    "CommandResult",
    "CommandTimedOut",
    "ConnectionFailed",
    "HostKeyRejected",
    "JobStatus",
    "LocalExecutor",
    "LocalTransport",
    "Resources",
    "SchedulerError",
    "SlurmBackend",
    "SlurmState",
    "SshConfig",
    "SshTransport",
    "StageSpec",
    "SubmissionRejected",
    "Transport",
    "TransportError",
    "UnparsableOutput",
    "batch_script",
    "make_backend",
    "parse_sacct",
    "parse_squeue",
    "parse_state",
    "pool_job",
    "pool_tasks",
    "sbatch_args",
]
