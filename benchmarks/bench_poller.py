"""Poller cost and status lag (issue 6): scheduler calls per poll and poll time with 1, 100 and 1,000
active jobs, and the lag from a job's state change to the database on the real local executor.

Run: .venv/bin/python benchmarks/bench_poller.py   (writes benchmarks/results/poller.json)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.cluster import JobStatus, LocalExecutor, SlurmState  # noqa: E402


class CountingBackend:
    """Answers like a scheduler that knows every job (all RUNNING), counting calls."""

    def __init__(self):
        self.calls = 0
        self.flip: set[str] = set()

    def query(self, job_ids, array_sizes=None):
        self.calls += 1
        return {
            j: JobStatus(
                j,
                SlurmState.COMPLETED if j in self.flip else SlurmState.RUNNING,
                "COMPLETED" if j in self.flip else "RUNNING",
            )
            for j in job_ids
        }

    def cancel(self, job_ids):
        pass


def seed_jobs(app, n: int) -> None:
    from lightserv.db import get_schemas
    from lightserv.runs.engine import create_run
    from lightserv.runs.model import StageDef

    with app.test_request_context():
        jobs = get_schemas().jobs.PipelineRun.SlurmJob
        for _ in range(n):
            run_id = create_run(
                "precomputed_raw",
                {
                    "username": "bench",
                    "request_name": "bench",
                    "sample_name": "s1",
                    "imaging_request_number": 1,
                    "image_resolution": "1.3x",
                },
                [StageDef("work", "lib.cluster.types")],
                {},
                created_by="system",
                output_dir="x",
            )
            jobs.update1(
                {"run_id": run_id, "step_index": 0, "slurm_job_id": str(10_000_000 + run_id), "state": "SUBMITTED"}
            )


def main() -> None:
    from lightserv import create_app
    from lightserv.dbinit import init_db
    from lightserv.runs.poller import poll
    from lightserv.settings import Settings
    from tests.conftest import drop_prefix  # same helper the tests use
    from tests.factories import new_request, submit

    prefix = f"lsbench_{uuid.uuid4().hex[:6]}_"
    tmp = Path(tempfile.mkdtemp())
    app = create_app(
        Settings(
            lightserv_mode="TEST",
            dj_schema_prefix=prefix,
            redis_url="redis://127.0.0.1:6379/14",
            data_root=tmp,
            mail_port=1,
        )
    )
    init_db(app)
    results: dict = {"scheduler_calls_per_poll": {}, "poll_seconds": {}}
    try:
        from lightserv.auth.services import ensure_user

        with app.app_context():
            ensure_user("bench", actor=None)
        submit(app, new_request("bench", "bench"))
        seeded = 0
        for n in (1, 100, 1000):
            seed_jobs(app, n - seeded)
            seeded = n
            backend = CountingBackend()
            times = []
            with app.app_context():
                for _ in range(5):
                    t0 = time.perf_counter()
                    poll(backend)
                    times.append(time.perf_counter() - t0)
            results["scheduler_calls_per_poll"][n] = backend.calls / 5
            results["poll_seconds"][n] = {"median": statistics.median(times), "max": max(times)}
            print(
                f"{n:>5} active jobs: {backend.calls / 5:.0f} scheduler call(s) per poll, "
                f"median poll {statistics.median(times) * 1000:.0f} ms (no changes)"
            )
        # status lag on the real local executor: a job ends, the next poll records it
        from lightserv.db import get_schemas
        from lightserv.runs.engine import create_run, submit_run
        from lightserv.runs.model import StageDef

        executor = LocalExecutor(tmp / "executor")
        lags = []
        for _ in range(3):
            with app.test_request_context():
                run_id = create_run(
                    "precomputed_raw",
                    {
                        "username": "bench",
                        "request_name": "bench",
                        "sample_name": "s1",
                        "imaging_request_number": 1,
                        "image_resolution": "1.3x",
                    },
                    [StageDef("work", "lib.cluster.types")],
                    {},
                    created_by="system",
                    output_dir="x",
                )
                submit_run(run_id, executor)
            # poll every second, as a short SLURM_POLL_SECONDS would, until the run is recorded done
            deadline = time.monotonic() + 60
            ended = None
            with app.app_context():
                while time.monotonic() < deadline:
                    poll(executor)
                    job = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts()[0]
                    if job["state"] == "COMPLETED":
                        ended = job
                        break
                    time.sleep(1.0)
            status = executor.query([ended["slurm_job_id"]])[ended["slurm_job_id"]]
            lags.append(
                (ended["state_changed_at"] - status.ended_at.replace(microsecond=0)).total_seconds()
                if status.ended_at
                else None
            )
        executor.close()
        results["status_lag_seconds_poll_every_1s"] = lags
        print(
            f"status lag (job end -> database) with a 1 s poll: {lags} s; with SLURM_POLL_SECONDS=60 the lag is "
            "at most one interval plus the poll time"
        )
    finally:
        from lightserv.db import forget_connections

        forget_connections()
        drop_prefix(prefix)
    out = ROOT / "benchmarks" / "results" / "poller.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
