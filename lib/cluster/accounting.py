"""Reading scheduler output and pooling array tasks into one status per job.

- `parse_sacct` reads `sacct --parsable2 --noheader --allocations --format=JobID,State,ExitCode,Start,End`.
- `parse_squeue` reads the `squeue --Format` line of `SQUEUE_FORMAT` (the fallback without accounting).
- `parse_named_jobs` reads `<job id>|<job name>` lines (`sacct --format=JobID,JobName`, `squeue --format=%F|%j`).
- `pool_tasks` groups rows by the id before `_` (`123_4`, `123_[5-9%2]`) and applies the pooling rules.
Anything we cannot read raises `UnparsableOutput`; unknown state names too, rather than guessing.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import UnparsableOutput
from .types import JobStatus, SlurmState

SACCT_FIELDS = ("JobID", "State", "ExitCode", "Start", "End")
SQUEUE_FORMAT = "JobArrayID:64|,State:24|,exit_code:12|,StartTime:24|,EndTime:24|"

# Names Slurm prints that are not in our enum, mapped to the nearest state of the same class.
_ALIASES = {
    "REQUEUE_FED": SlurmState.REQUEUED,
    "REQUEUE_HOLD": SlurmState.REQUEUED,
    "RESV_DEL_HOLD": SlurmState.PENDING,
    "STOPPED": SlurmState.SUSPENDED,
    "SIGNALING": SlurmState.COMPLETING,
    "STAGE_OUT": SlurmState.COMPLETING,
    "SPECIAL_EXIT": SlurmState.FAILED,
}
_JOB_ID = re.compile(r"^(\d+)(?:_(\d+|\[[0-9,:%\-]+\]))?(?:\+\d+)?(?:;\S+)?$")
_NO_TIME = {"", "None", "Unknown", "N/A", "(null)"}


@dataclass(frozen=True)
class TaskRow:
    """One line of scheduler output: a plain job, one array task, or a range of pending tasks (`count`)."""

    job_id: str
    task: str | None
    state: SlurmState
    raw_state: str
    exit_code: str
    started_at: datetime | None
    ended_at: datetime | None
    count: int = 1


def parse_state(raw: str) -> SlurmState:
    """`CANCELLED by 1234` → CANCELLED; `OUT_OF_MEMORY` → OUT_OF_MEMORY; unknown names raise."""
    word = raw.strip().split(" ", 1)[0].rstrip("+").upper()
    if word in SlurmState.__members__:
        return SlurmState[word]
    if word in _ALIASES:
        return _ALIASES[word]
    raise UnparsableOutput("job state", raw)


def parse_time(text: str) -> datetime | None:
    text = text.strip()
    if text in _NO_TIME:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise UnparsableOutput("time", text) from exc


def parse_exit_code(text: str) -> str:
    text = text.strip()
    if not re.match(r"^\d+:\d+$", text):
        raise UnparsableOutput("exit code", text)
    return text


def wait_status_to_exit_code(status: int) -> str:
    """A raw wait status (squeue's exit_code) as Slurm's `code:signal`."""
    return f"{(status >> 8) & 0xFF}:{status & 0x7F}"


def count_array_range(spec: str) -> int:
    """Tasks in a bracketed range such as `[0-3%2]`, `[5,7-9]` or `[1-7:2]`."""
    body = spec.strip("[]").split("%", 1)[0]
    total = 0
    for part in body.split(","):
        step = 1
        if ":" in part:
            part, step_text = part.split(":", 1)
            step = int(step_text)
        if "-" in part:
            first, last = (int(x) for x in part.split("-", 1))
            total += len(range(first, last + 1, step))
        elif part:
            total += 1
    return total


def _split_job_id(text: str) -> tuple[str, str | None, int]:
    match = _JOB_ID.match(text.strip())
    if not match:
        raise UnparsableOutput("job id", text)
    job_id, task = match.group(1), match.group(2)
    if task and task.startswith("["):
        try:
            return job_id, task, count_array_range(task)
        except ValueError as exc:
            raise UnparsableOutput("array range", text) from exc
    return job_id, task, 1


def parse_sacct(text: str) -> list[TaskRow]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(SACCT_FIELDS):
            raise UnparsableOutput(f"sacct line (expected {len(SACCT_FIELDS)} fields)", line)
        jid, state, exit_code, start, end = fields
        job_id, task, count = _split_job_id(jid)
        rows.append(
            TaskRow(
                job_id,
                task,
                parse_state(state),
                state.strip(),
                parse_exit_code(exit_code),
                parse_time(start),
                parse_time(end),
                count,
            )
        )
    return rows


def parse_squeue(text: str) -> list[TaskRow]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|")]
        if fields and fields[-1] == "":
            fields.pop()
        if len(fields) != 5:
            raise UnparsableOutput("squeue line (expected 5 fields)", line)
        jid, state, status, start, end = fields
        job_id, task, count = _split_job_id(jid)
        parsed = parse_state(state)
        if status.isdigit():
            exit_code = wait_status_to_exit_code(int(status))
        elif status in ("", "N/A"):
            exit_code = ""
        else:
            raise UnparsableOutput("squeue exit code", line)
        ended = parse_time(end) if parsed.is_terminal else None  # squeue prints the expected end time
        rows.append(TaskRow(job_id, task, parsed, state, exit_code, parse_time(start), ended, count))
    return rows


def parse_named_jobs(text: str) -> dict[str, str]:
    """Job name → job id (digits, array suffix dropped) of `<job id>|<job name>` lines; a name used by
    several jobs maps to the lowest id (the first submitted)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        jid, sep, name = line.strip().partition("|")
        if not sep or not name:
            raise UnparsableOutput("job id|name line", line)
        job_id = _split_job_id(jid)[0]
        if name not in found or int(job_id) < int(found[name]):
            found[name] = job_id
    return found


def pool_tasks(rows: Iterable[TaskRow], array_sizes: Mapping[str, int] | None = None) -> dict[str, JobStatus]:
    """One `JobStatus` per job id, array tasks pooled (see `pool_job` for `array_sizes`)."""
    by_job: dict[str, list[TaskRow]] = defaultdict(list)
    for row in rows:
        by_job[row.job_id].append(row)
    sizes = array_sizes or {}
    return {job_id: pool_job(job_id, job_rows, sizes.get(job_id)) for job_id, job_rows in by_job.items()}


def complete_array(job_id: str, rows: list[TaskRow], array_size: int) -> list[TaskRow]:
    """The rows of an array job of known size, with tasks accounting does not show yet counted PENDING.

    Slurm's accounting lags behind the controller: for a second or two after an array's tasks end,
    `sacct` can print the array as one plain row (`123|COMPLETED`) before the per-task rows arrive. A row
    without a task suffix is therefore ignored for an array job, and missing tasks are PENDING, so a
    poll in that window reports the job as not finished instead of finished.
    """
    task_rows = [r for r in rows if r.task is not None]
    missing = array_size - sum(r.count for r in task_rows)
    if missing > 0:
        task_rows.append(TaskRow(job_id, "[?]", SlurmState.PENDING, "PENDING", "0:0", None, None, missing))
    return task_rows


def pool_job(job_id: str, rows: list[TaskRow], array_size: int | None = None) -> JobStatus:
    """Pool one job's accounting rows (one per task) into one job state.

    One row or all rows equal → that state; any failure-class state → that state if all failing tasks
    share it, else FAILED (raw text "TIMEOUT in 3 of 40 tasks"); else any CANCELLED → CANCELLED; else any
    running-class → RUNNING; else any SUSPENDED → SUSPENDED; else PENDING. With `array_size` (known to
    the caller from the submission) the rows are first completed by `complete_array`.
    """
    if array_size:
        rows = complete_array(job_id, rows, array_size)
    if not rows:
        raise ValueError("no rows to pool")
    is_array = any(r.task is not None for r in rows)
    total = sum(r.count for r in rows)
    counts: Counter[SlurmState] = Counter()
    for r in rows:
        counts[r.state] += r.count
    array_size = total if is_array else None
    array_done = counts[SlurmState.COMPLETED] if is_array else None
    starts = [r.started_at for r in rows if r.started_at]
    ends = [r.ended_at for r in rows if r.ended_at]
    started = min(starts) if starts else None

    def status(state: SlurmState, raw: str, exit_code: str) -> JobStatus:
        ended = max(ends) if ends and state.is_terminal else None
        return JobStatus(job_id, state, raw[:64], exit_code, started, ended, array_size, array_done)

    ordered = sorted(rows, key=_task_order)
    if len(counts) == 1:
        first = ordered[0]
        raws = {r.raw_state for r in rows}
        raw = first.raw_state if len(raws) == 1 else first.state.value
        worst = next((r for r in ordered if r.exit_code not in ("", "0:0")), first)
        return status(first.state, raw, worst.exit_code)
    failing = [r for r in ordered if r.state.state_class == "failed"]
    if failing:
        fail_counts: Counter[SlurmState] = Counter()
        for r in failing:
            fail_counts[r.state] += r.count
        n_failing = sum(fail_counts.values())
        if len(fail_counts) == 1:
            state = failing[0].state
            raw = f"{state.value} in {n_failing} of {total} tasks"
        else:
            state = SlurmState.FAILED
            parts = ", ".join(f"{s.value} in {n}" for s, n in sorted(fail_counts.items()))
            raw = f"{parts} of {total} tasks"
        return status(state, raw, failing[0].exit_code)
    if counts[SlurmState.CANCELLED]:
        cancelled = next(r for r in ordered if r.state is SlurmState.CANCELLED)
        return status(SlurmState.CANCELLED, cancelled.raw_state, cancelled.exit_code)
    if any(s.state_class == "running" and s is not SlurmState.SUSPENDED for s in counts):
        return status(SlurmState.RUNNING, SlurmState.RUNNING.value, "")
    if counts[SlurmState.SUSPENDED]:
        return status(SlurmState.SUSPENDED, SlurmState.SUSPENDED.value, "")
    return status(SlurmState.PENDING, SlurmState.PENDING.value, "")


def _task_order(row: TaskRow) -> tuple[int, int]:
    if row.task is None:
        return (0, 0)
    if row.task.startswith("["):
        return (2, 0)
    return (1, int(row.task))
