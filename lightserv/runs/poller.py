"""The poller (processing.md §8.2): one scheduler query per poll for every active job, under a Redis lock
so two pollers never overlap."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from lightserv.common.redis import get_redis
from lightserv.db import get_schemas

from .engine import _terminal_sql, apply_observations

LOCK_KEY = "lightserv:poller:lock"
LOCK_SECONDS = 300
BATCH = 200


@dataclass(frozen=True)
class PollResult:
    skipped: bool
    active_jobs: int = 0
    scheduler_calls: int = 0
    runs_touched: int = 0
    seconds: float = 0.0


def to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Scheduler times are naive local times of the cluster (CLUSTER_TIMEZONE, default this host's zone)."""
    if value is None:
        return None
    from zoneinfo import ZoneInfo

    from flask import current_app

    zone = current_app.config["SETTINGS"].cluster_timezone
    aware = value.replace(tzinfo=ZoneInfo(zone)) if zone else value.astimezone()
    return aware.astimezone(dt.UTC).replace(tzinfo=None)


def active_jobs() -> dict[str, int | None]:
    """Slurm id -> array size (None for plain jobs) of every job not yet in a terminal state."""
    jobs = get_schemas().jobs.PipelineRun.SlurmJob
    query = jobs & "slurm_job_id IS NOT NULL" & f"state NOT IN ({_terminal_sql()})"
    return {
        r["slurm_job_id"]: (r["array_size"] if r["is_array"] else None)
        for r in query.proj("slurm_job_id", "is_array", "array_size").to_dicts()
    }


def poll(backend) -> PollResult:
    """Ask the scheduler about every active job (batches of 200 ids) and write what changed."""
    redis = get_redis()
    token = uuid.uuid4().hex
    if not redis.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
        return PollResult(skipped=True)
    start = time.monotonic()
    try:
        active = active_jobs()
        ids = sorted(active)
        sizes = {job_id: size for job_id, size in active.items() if size}
        observations: dict[str, dict] = {}
        calls = 0
        for i in range(0, len(ids), BATCH):
            batch = ids[i : i + BATCH]
            statuses = backend.query(batch, {j: sizes[j] for j in batch if j in sizes})
            calls += 1
            for job_id, status in statuses.items():
                observations[job_id] = {
                    "state": str(status.state),
                    "raw_state": status.raw_state[:64],
                    "exit_code": status.exit_code[:16],
                    "started_at": to_utc(status.started_at),
                    "ended_at": to_utc(status.ended_at),
                    "array_done": status.array_done,
                }
        touched = apply_observations(observations, backend=backend) if ids else set()
        return PollResult(False, len(ids), calls, len(touched), time.monotonic() - start)
    finally:
        # release only our own lock (a poll that outlived the lock must not delete the next one's)
        if redis.get(LOCK_KEY) == token:
            redis.delete(LOCK_KEY)
