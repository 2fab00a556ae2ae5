"""Plain data of the cluster engine: stage definitions and the derived run status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.enums import SLURM_STATE_CLASS, SLURM_STATE_LABELS, SLURM_TERMINAL_STATES


@dataclass(frozen=True)
class Resources:
    cpus: int = 1
    mem_gb: int = 4
    time_limit: str = "00:30:00"
    partition: str = ""


@dataclass(frozen=True)
class StageDef:
    """One stage of a run: a command (argv list, never a shell string) run as one Slurm job.

    `module` names the Python entry point (`python -m <module>`); its file is hashed for provenance.
    Array stages get one task per index; the task reads its index from SLURM_ARRAY_TASK_ID."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    array_size: int | None = None
    depends_on: tuple[int, ...] | None = None  # None: the previous stage (none for the first)


RESOURCE_FIELDS = ("cpus", "mem_gb", "time_limit", "partition")


def resolve_resources(kind: str, stage: str, default: Resources, overrides: dict[str, dict]) -> Resources:
    """A stage's resources after `SLURM_STAGE_RESOURCES`: "*" applies to every stage,
    "<stage>" to that stage of any run, "<kind>:<stage>" to that stage of one run kind; later (more specific)
    keys override earlier ones field by field."""
    values = {name: getattr(default, name) for name in RESOURCE_FIELDS}
    for key in ("*", stage, f"{kind}:{stage}"):
        for name, value in (overrides.get(key) or {}).items():
            if name in RESOURCE_FIELDS:
                values[name] = value
    return Resources(
        cpus=int(values["cpus"]),
        mem_gb=max(1, int(float(values["mem_gb"]))),  # whole GB (the job row's column)
        time_limit=str(values["time_limit"]),
        partition=str(values["partition"]),
    )


def is_terminal(state: str) -> bool:
    return state in SLURM_TERMINAL_STATES


def state_label(state: str, exit_code: str = "") -> str:
    label = SLURM_STATE_LABELS.get(state, state)
    return label.format(exit_code=exit_code or "?") if "{exit_code}" in label else label


def derive_run_status(states: Iterable[str], cancelled_by_staff: bool = False) -> str:
    """queued / running / succeeded / failed / cancelled from the states of a run's jobs."""
    states = list(states)
    if cancelled_by_staff:
        return "cancelled"
    classes = [SLURM_STATE_CLASS.get(s, "failed") for s in states]
    if any(c in ("failed", "cancelled") for c in classes):
        return "failed"
    if states and all(s == "COMPLETED" for s in states):
        return "succeeded"
    if any(c in ("running", "succeeded") for c in classes):
        return "running"
    return "queued"


def progress_text(jobs: list[dict]) -> str:
    """ "Stage k of n: <stage> — <label>" with "(d/n tasks)" for arrays."""
    if not jobs:
        return ""
    jobs = sorted(jobs, key=lambda j: j["step_index"])
    current = next((j for j in jobs if j["state"] != "COMPLETED"), jobs[-1])
    text = (
        f"Stage {current['step_index'] + 1} of {len(jobs)}: {current['step_name']} — "
        f"{state_label(current['state'], current.get('exit_code', ''))}"
    )
    if current.get("is_array") and current.get("array_size"):
        text += f" ({current.get('array_done') or 0}/{current['array_size']} tasks)"
    return text
