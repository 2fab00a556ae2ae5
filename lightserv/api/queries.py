"""Reads of the API that the HTML lists do not already have: pipeline runs with their jobs, and layers.

Visibility is the requests list's own (`lightserv.requests.queries.visible_requests`): a caller sees the
runs and layers of exactly the requests they may see. Filtering, sorting and paging happen in MariaDB;
a page costs a fixed number of queries (the rows, their count, the jobs of the page's runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from lightserv.common.pagination import Page, PageRequest
from lightserv.db import get_schemas
from lightserv.layers.services import LAYER_KEY
from lightserv.requests.queries import visible_requests
from lightserv.runs.engine import TARGET_KEYS

#: the API sorts by a column's own name
RUN_SORTS = {c: c for c in ("run_id", "created_at", "finished_at", "status", "kind")}
RUN_COLUMNS = (
    "kind",
    *TARGET_KEYS,
    "attempt",
    "start_stage",
    "status",
    "created_by",
    "created_at",
    "finished_at",
    "failure_reason",
    "superseded_by_run_id",
    "cancelled_by",
)
RUN_DETAIL_COLUMNS = ("params", "run_dir", "output_dir", "code_dir", "code_commit", "container_image")
JOB_COLUMNS = (
    "step_index",
    "step_name",
    "slurm_job_id",
    "depends_on_steps",
    "is_array",
    "array_size",
    "array_done",
    "partition",
    "cpus",
    "mem_gb",
    "time_limit",
    "state",
    "raw_state",
    "exit_code",
    "submitted_at",
    "started_at",
    "ended_at",
    "state_changed_at",
    "stdout_path",
    "stderr_path",
)
LAYER_SORTS = {
    c: c for c in ("created_at", "ready_at", "layer_name", "status", "product", "request_name", "sample_name")
}


@dataclass(frozen=True)
class TargetFilter:
    """Restrictions shared by runs and layers; every value was validated by the view."""

    owner: str = ""
    request_name: str = ""
    sample_name: str = ""
    status: str = ""
    kind: str = ""  # runs: RUN_KIND; layers: LAYER_PRODUCT

    def restriction(self, kind_column: str) -> dict:
        values = {
            "username": self.owner,
            "request_name": self.request_name,
            "sample_name": self.sample_name,
            "status": self.status,
            kind_column: self.kind,
        }
        return {k: v for k, v in values.items() if v}


def _visible_runs(viewer: str, roles: frozenset[str]):
    return get_schemas().jobs.PipelineRun & visible_requests(viewer, roles).proj()


def list_runs(viewer: str, roles: frozenset[str], flt: TargetFilter, page: PageRequest) -> Page:
    """One page of the pipeline runs of the requests `viewer` may see, each with its jobs."""
    runs = _visible_runs(viewer, roles) & flt.restriction("kind")
    total = len(runs)
    rows = runs.proj(*RUN_COLUMNS).to_dicts(
        order_by=page.order_by(RUN_SORTS, ["run_id"]), limit=page.per_page, offset=page.offset
    )
    attach_jobs(rows)
    return Page(items=rows, total=total, request=page)


def get_run(viewer: str, roles: frozenset[str], run_id: int) -> dict | None:
    """One run with its jobs, or None when it does not exist or its request is not visible."""
    rows = (_visible_runs(viewer, roles) & {"run_id": run_id}).proj(*RUN_COLUMNS, *RUN_DETAIL_COLUMNS).to_dicts()
    if not rows:
        return None
    attach_jobs(rows)
    return rows[0]


def attach_jobs(runs: list[dict]) -> None:
    """Give each run row `jobs` (its Slurm jobs in stage order), one query for all of them."""
    by_run: dict[int, list[dict]] = {r["run_id"]: [] for r in runs}
    if runs:
        jobs = get_schemas().jobs.PipelineRun.SlurmJob & [{"run_id": run_id} for run_id in by_run]
        for job in jobs.proj(*JOB_COLUMNS).to_dicts(order_by=["run_id", "step_index"]):
            by_run[job.pop("run_id")].append(job)
    for run in runs:
        run["jobs"] = by_run[run["run_id"]]


def list_layers(viewer: str, roles: frozenset[str], flt: TargetFilter, page: PageRequest) -> Page:
    """One page of the precomputed layers of the requests `viewer` may see."""
    layers = get_schemas().lightsheet.Request.DataLayer & visible_requests(viewer, roles).proj()
    layers = layers & flt.restriction("product")
    total = len(layers)
    order = page.order_by(LAYER_SORTS, list(LAYER_KEY))
    rows = layers.to_dicts(order_by=order, limit=page.per_page, offset=page.offset)
    return Page(items=rows, total=total, request=page)
