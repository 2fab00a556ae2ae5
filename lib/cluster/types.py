"""What a stage asks of the cluster and what the cluster says about a job.

States use Slurm's names (the values of the `slurm_state` enumeration). Job ids are strings of digits, never with an
array suffix and never lists.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

# An argv element containing this text gets the array index substituted (`"$SLURM_ARRAY_TASK_ID"` in a
# Slurm batch script, the index itself in the local executor). Scripts may also read the variable.
ARRAY_INDEX = "{array_index}"

_TIME_LIMIT = re.compile(r"^(?:(\d+)-)?(\d{1,2}):([0-5]\d):([0-5]\d)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
JOB_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,128}$")
_SLURM_WORD = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
JOB_ID = re.compile(r"^\d+$")


class SlurmState(enum.StrEnum):
    """`slurm_state`, spelled as Slurm prints it."""

    NOT_SUBMITTED = "NOT_SUBMITTED"
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    REQUEUED = "REQUEUED"
    CONFIGURING = "CONFIGURING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    RESIZING = "RESIZING"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    PREEMPTED = "PREEMPTED"
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"

    @property
    def state_class(self) -> str:
        """`waiting`, `queued`, `running`, `succeeded`, `failed` or `cancelled`."""
        return _CLASS[self]

    @property
    def is_terminal(self) -> bool:
        return self.state_class in ("succeeded", "failed", "cancelled")


_CLASS: dict[SlurmState, str] = {
    SlurmState.NOT_SUBMITTED: "waiting",
    SlurmState.SUBMITTED: "queued",
    SlurmState.PENDING: "queued",
    SlurmState.REQUEUED: "queued",
    SlurmState.CONFIGURING: "running",
    SlurmState.RUNNING: "running",
    SlurmState.COMPLETING: "running",
    SlurmState.RESIZING: "running",
    SlurmState.SUSPENDED: "running",
    SlurmState.COMPLETED: "succeeded",
    SlurmState.CANCELLED: "cancelled",
    **{
        s: "failed"
        for s in (
            SlurmState.FAILED,
            SlurmState.TIMEOUT,
            SlurmState.OUT_OF_MEMORY,
            SlurmState.NODE_FAIL,
            SlurmState.BOOT_FAIL,
            SlurmState.DEADLINE,
            SlurmState.PREEMPTED,
            SlurmState.REVOKED,
            SlurmState.UNKNOWN,
        )
    },
}
TERMINAL_STATES = frozenset(s for s in SlurmState if s.is_terminal)


def checked_names(names: Iterable[str]) -> list[str]:
    """The job names, each once, in order; ValueError for a name Slurm would not take literally."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if not JOB_NAME.match(name):
            raise ValueError(f"{name!r} is not a job name")
    return wanted


def time_limit_seconds(limit: str) -> int:
    """Seconds in a Slurm time limit `HH:MM:SS` or `D-HH:MM:SS`; ValueError otherwise."""
    match = _TIME_LIMIT.match(limit)
    if not match:
        raise ValueError(f"time limit {limit!r} is not HH:MM:SS or D-HH:MM:SS")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class Resources:
    """Per task (per array element): CPUs, memory in GB (fractions allowed), time limit, where to run."""

    cpus: int = 1
    mem_gb: float = 1.0
    time_limit: str = "01:00:00"
    partition: str | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        if self.cpus < 1:
            raise ValueError("cpus must be at least 1")
        if self.mem_gb <= 0:
            raise ValueError("mem_gb must be positive")
        time_limit_seconds(self.time_limit)
        for name in ("partition", "account"):
            value = getattr(self, name)
            if value is not None and not _SLURM_WORD.match(value):
                raise ValueError(f"{name} {value!r} has characters Slurm does not accept")

    @property
    def mem_mb(self) -> int:
        return max(1, round(self.mem_gb * 1024))

    @property
    def time_limit_seconds(self) -> int:
        return time_limit_seconds(self.time_limit)


@dataclass(frozen=True)
class ArraySpec:
    """Array indexes `first..last` (inclusive), at most `max_concurrent` running at once (None: no cap)."""

    first: int
    last: int
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if self.first < 0 or self.last < self.first:
            raise ValueError(f"bad array range {self.first}-{self.last}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")

    @classmethod
    def of_size(cls, size: int, max_concurrent: int | None = None) -> ArraySpec:
        return cls(0, size - 1, max_concurrent)

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def indexes(self) -> range:
        return range(self.first, self.last + 1)

    def sbatch_value(self) -> str:
        cap = f"%{self.max_concurrent}" if self.max_concurrent else ""
        return f"{self.first}-{self.last}{cap}"


@dataclass(frozen=True)
class StageSpec:
    """One stage = one scheduler job (an array job for array stages).

    `argv` is run as is (no shell); `stdout`/`stderr` may use Slurm's `%A` (job id), `%a` (array index),
    `%j` and `%x` (job name). `dependencies` are job ids this stage waits for with `afterok`.
    `script_path` is where the batch script is written (default: next to `stdout`, `<name>.sbatch`).
    """

    name: str
    argv: tuple[str, ...]
    workdir: str
    stdout: str
    stderr: str
    resources: Resources = field(default_factory=Resources)
    array: ArraySpec | None = None
    dependencies: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    script_path: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "argv", tuple(os.fspath(a) for a in self.argv))
        for name in ("workdir", "stdout", "stderr"):
            set_(self, name, os.fspath(getattr(self, name)))
        if self.script_path is not None:
            set_(self, "script_path", os.fspath(self.script_path))
        set_(self, "dependencies", tuple(str(d) for d in self.dependencies))
        set_(self, "env", dict(self.env))
        if not JOB_NAME.match(self.name):
            raise ValueError(f"job name {self.name!r} must be 1-128 of letters, digits, _ . + -")
        if not self.argv:
            raise ValueError("argv must not be empty")
        for dep in self.dependencies:
            if not JOB_ID.match(dep):
                raise ValueError(f"dependency {dep!r} is not a job id")
        for key, value in self.env.items():
            if not _ENV_NAME.match(key):
                raise ValueError(f"environment variable name {key!r} is invalid")
            if "\0" in value:
                raise ValueError(f"environment variable {key} contains a NUL byte")
        for text in self.argv:
            if "\0" in text:
                raise ValueError(f"argument {text!r} contains a NUL byte")
        for text in (self.workdir, self.stdout, self.stderr):
            if "\0" in text or "\n" in text:
                raise ValueError(f"path {text!r} contains a NUL byte or a newline")

    @property
    def batch_script_path(self) -> str:
        if self.script_path:
            return self.script_path
        return os.path.join(os.path.dirname(self.stdout) or self.workdir, f"{self.name}.sbatch")


@dataclass(frozen=True)
class JobStatus:
    """One job as the scheduler reports it, array tasks pooled.

    `raw_state` is the text as printed (e.g. `CANCELLED by 1234`, or `TIMEOUT in 3 of 40 tasks` for a
    pooled array); `exit_code` is `code:signal`; times are as printed by the scheduler (its local time,
    naive). `array_size` counts the tasks seen, `array_done` the COMPLETED ones (None for plain jobs).
    """

    job_id: str
    state: SlurmState
    raw_state: str
    exit_code: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    array_size: int | None = None
    array_done: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal
