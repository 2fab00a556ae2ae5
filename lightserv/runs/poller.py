"""The poller: one scheduler query per poll for every active job, under a Redis lock
so two pollers never overlap.

The lock lives `LOCK_SECONDS` and is extended while the poll runs, so a poller killed mid-poll holds up the
next one for at most that long. Each job's change is committed on its own (observations.apply_observations) and
runs left unsettled by a poll that stopped half-way are settled by the next one. Whether the cluster answered
is kept in Redis (`STATUS_KEY`) for /healthz and the run pages; an unreachable cluster changes no run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app

from lib.cluster import ClusterError
from lightserv.common.redis import get_redis
from lightserv.db import get_schemas

from . import faults
from .locks import redis_lock
from .observations import apply_observations, settle_run, terminal_states_sql, unsettled_runs

LOCK_KEY = "lightserv:poller:lock"
LOCK_SECONDS = 60
BATCH = 200
STATUS_KEY = "lightserv:cluster:status"
STATUS_TTL = 7 * 86400
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    skipped: bool
    active_jobs: int = 0
    scheduler_calls: int = 0
    runs_touched: int = 0
    seconds: float = 0.0
    error: str = ""  # the cluster could not be asked (nothing was changed)


def to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Scheduler times are naive local times of the cluster (CLUSTER_TIMEZONE, default this host's zone)."""
    if value is None:
        return None
    zone = current_app.config["SETTINGS"].cluster_timezone
    aware = value.replace(tzinfo=ZoneInfo(zone)) if zone else value.astimezone()
    return aware.astimezone(dt.UTC).replace(tzinfo=None)


def active_jobs() -> dict[str, int | None]:
    """Slurm id -> array size (None for plain jobs) of every job not yet in a terminal state."""
    jobs = get_schemas().jobs.PipelineRun.SlurmJob
    query = jobs & "slurm_job_id IS NOT NULL" & f"state NOT IN ({terminal_states_sql()})"
    return {
        r["slurm_job_id"]: (r["array_size"] if r["is_array"] else None)
        for r in query.proj("slurm_job_id", "is_array", "array_size").to_dicts()
    }


def cluster_status() -> dict | None:
    """The outcome of the last poll: {"ok", "at", "error", "since"} (times are UNIX seconds), or None."""
    raw = get_redis().get(STATUS_KEY)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def unreachable_since() -> tuple[dt.datetime, str] | None:
    """(UTC time of the first failed poll, its error) while the cluster cannot be asked, else None (also when
    Redis itself is down: the pages then say nothing rather than fail)."""
    try:
        status = cluster_status()
    except Exception:  # noqa: BLE001 - Redis unavailable: no notice
        return None
    if not status or status.get("ok", True):
        return None
    since = dt.datetime.fromtimestamp(float(status.get("since") or status["at"]), dt.UTC).replace(tzinfo=None)
    return since, str(status.get("error") or "")


def _record_status(redis, error: str = "") -> None:
    now = time.time()
    status: dict = {"ok": not error, "at": now, "error": error}
    if error:
        previous = cluster_status() or {}
        status["since"] = previous.get("since") if not previous.get("ok", True) and previous.get("since") else now
    redis.set(STATUS_KEY, json.dumps(status), ex=STATUS_TTL)


def poll(backend) -> PollResult:
    """Ask the scheduler about every active job (batches of 200 ids) and write what changed."""
    with redis_lock(LOCK_KEY, LOCK_SECONDS) as held:
        if not held:
            return PollResult(skipped=True)
        return _poll(backend, get_redis())


def _poll(backend, redis) -> PollResult:
    start = time.monotonic()
    active = active_jobs()
    ids = sorted(active)
    sizes = {job_id: size for job_id, size in active.items() if size}
    observations: dict[str, dict] = {}
    calls = 0
    try:
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
    except ClusterError as exc:
        # unreachable or refusing: no run changes on missing information; the next poll tries again
        error = exc.first_line[:300]
        _record_status(redis, error)
        log.warning("cluster poll failed, run states left as they were: %s", error)
        return PollResult(False, len(ids), calls, 0, time.monotonic() - start, error=error)
    if ids:
        _record_status(redis)
    faults.crash_point("queried")
    touched = apply_observations(observations, backend=backend) if ids else set()
    for run_id in unsettled_runs():  # left so by a poll that stopped half-way
        if run_id in touched:
            continue
        try:
            settle_run(run_id, backend)
        except Exception:  # one run's hook must not stop the others; it is tried again next poll
            log.exception("run %s could not be settled", run_id)
        touched.add(run_id)
    return PollResult(False, len(ids), calls, len(touched), time.monotonic() - start)
