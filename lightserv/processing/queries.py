"""Reads of the processing pages. The queue is one SQL statement per table page (plus its count and one
query for the current stages of the page's rows); nothing is queried per row."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from lightserv.common.audit import utcnow
from lightserv.common.keyed_page import KeyedSource, keyed_page
from lightserv.common.pagination import Page, PageRequest
from lightserv.db import get_schemas
from lightserv.runs.model import state_label
from schemas.enums import IMAGE_RESOLUTION

from .params import SMARTSPIM_RESOLUTIONS, STAGE_LABELS
from .pipeline import PR_KEY

#: queue tables in page order: name, title, action label
QUEUE_TABLES = (
    ("attention", "Needs attention", "Open log"),
    ("running", "Running", "Open log"),
    ("flatfield", "Flat-field needed", "Enter flat-field"),
    ("ready", "Ready to process", "Start"),
    ("waiting", "Waiting for imaging", ""),
    ("processed", "Processed", "Open log"),
)
#: ?sort= key -> SQL column of the queue select
QUEUE_SORTS = {
    "submitted": "p.submitted_at",
    "request": "p.request_name",
    "sample": "p.sample_name",
    "owner": "p.username",
    "imaging_request": "p.imaging_request_number",
    "processing_request": "p.processing_request_number",
    "microscope": "microscopes",
    "resolutions": "resolutions",
    "progress": "p.processing_progress",
    "processor": "p.processor",
    "species": "CAST(q.species AS CHAR)",
    "completed": "p.completed_at",
}
QUEUE_DEFAULT_SORT = {name: ("completed" if name == "processed" else "submitted") for name, _t, _a in QUEUE_TABLES}
MAIN_KINDS = ("lavision_pipeline", "smartspim_stitch", "smartspim_destripe")
_SMARTSPIM = ", ".join(f"'{r}'" for r in SMARTSPIM_RESOLUTIONS)


def _tables() -> SimpleNamespace:
    s = get_schemas()
    r = s.lightsheet.Request
    return SimpleNamespace(
        request=r.full_table_name,
        access=r.Access.full_table_name,
        imaging=r.ImagingRequest.full_table_name,
        processing=r.ProcessingRequest.full_table_name,
        resolution=r.ProcessingResolutionRequest.full_table_name,
        run=s.jobs.PipelineRun.full_table_name,
        job=s.jobs.PipelineRun.SlurmJob.full_table_name,
    )


def _query(sql: str, args: list) -> list[dict]:
    return list(get_schemas().connection.query(sql, args=tuple(args), as_dict=True).fetchall())


def _join(alias_a: str, alias_b: str, columns: tuple[str, ...]) -> str:
    return " AND ".join(f"{alias_a}.{c} = {alias_b}.{c}" for c in columns)


def _condition(table: str, t: SimpleNamespace) -> str:
    if table == "attention":
        return "p.processing_progress = 'failed'"
    if table == "running":
        return "p.processing_progress = 'running'"
    if table == "ready":  # imaging_state: the imaging request's progress (lightserv.processing.queue_store)
        return "p.processing_progress = 'pending' AND p.imaging_state = 'complete'"
    if table == "waiting":
        return "p.processing_progress = 'pending' AND p.imaging_state = 'pending'"
    if table == "processed":
        return "p.processing_progress = 'complete'"
    if table == "flatfield":
        # a SmartSPIM resolution of this processing request whose stitching succeeded (any processing
        # request of the imaging request) and whose destriping has not started
        return (
            "p.processing_progress <> 'complete' AND EXISTS ("
            f"SELECT 1 FROM {t.resolution} rr JOIN {t.run} s ON s.kind = 'smartspim_stitch' "
            "AND s.status = 'succeeded' AND s.superseded_by_run_id IS NULL AND "
            + _join(
                "s",
                "rr",
                ("username", "request_name", "sample_name", "imaging_request_number", "image_resolution", "ventral_up"),
            )  # fmt: skip
            + f" WHERE {_join('rr', 'p', PR_KEY)} AND rr.image_resolution IN ({_SMARTSPIM}) AND NOT EXISTS ("
            f"SELECT 1 FROM {t.run} d WHERE d.kind = 'smartspim_destripe' AND "
            + _join("d", "rr", (*PR_KEY, "image_resolution", "ventral_up"))
            + "))"
        )
    raise ValueError(table)


def _summary(t: SimpleNamespace) -> dict[str, str]:
    """Microscopes and resolutions of the processing request `p` (correlated, for a page of rows)."""
    microscope = f"IF(rr.image_resolution IN ({_SMARTSPIM}), 'SmartSPIM', 'LaVision')"
    resolution = "CONCAT(rr.image_resolution, IF(rr.ventral_up, ' ventral up', ''))"
    order = ", ".join(f"'{r}'" for r in IMAGE_RESOLUTION)
    of_p = f"FROM {t.resolution} rr WHERE {_join('rr', 'p', PR_KEY)}"
    return {
        "microscopes": f"(SELECT GROUP_CONCAT(DISTINCT {microscope} ORDER BY {microscope} SEPARATOR ' & ') {of_p})",
        "resolutions": f"(SELECT GROUP_CONCAT({resolution} ORDER BY FIELD(rr.image_resolution, {order}), rr.ventral_up"
        f" SEPARATOR ', ') {of_p})",
    }


def _visible(viewer: str, sees_all: bool, t: SimpleNamespace) -> tuple[str, list]:
    if sees_all:
        return "", []
    return (
        f" AND (p.username = %s OR EXISTS (SELECT 1 FROM {t.access} g WHERE {_join('g', 'p', PR_KEY[:2])} "
        "AND g.grantee = %s))",
        [viewer, viewer],
    )


def list_queue(table: str, viewer: str, sees_all: bool, page: PageRequest, processor: str = "") -> Page:
    """One table of the processing queue: processing requests visible to `viewer` (staff: all); only those
    `processor` started when given."""
    t = _tables()
    where, args = _visible(viewer, sees_all, t)
    if processor:
        where, args = f"{where} AND p.processor = %s", [*args, processor]
    summary = _summary(t)
    imaging = f" JOIN {t.imaging} i ON {_join('i', 'p', PR_KEY[:4])}"
    request = f" JOIN {t.request} q ON {_join('q', 'p', PR_KEY[:2])}"
    source = KeyedSource(
        table=t.processing,
        key=PR_KEY,
        where=(f"{_condition(table, t)}{where}", tuple(args)),
        columns="p.*, i.imaging_progress, i.imaging_performed_date, CAST(q.species AS CHAR) AS species, "
        + ", ".join(f"{sql} AS {name}" for name, sql in summary.items()),
        joins=imaging + request,
        alias="p",
    )
    sort = summary.get(QUEUE_SORTS[page.sort], QUEUE_SORTS[page.sort])
    result = keyed_page(source, sort, page, sort_joins=request if "q." in sort else "")
    if table in ("running", "attention"):
        stages = list_current_stages(result.items)
        for item in result.items:
            item["current_stage"] = stages.get(tuple(item[k] for k in PR_KEY), "")
    return result


# --- current stage ----------------------------------------------------------------------------------


def elapsed_text(since: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if since is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours >= 24:
        return f"{hours // 24} d {hours % 24} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def stage_text(jobs: list[dict], now: dt.datetime | None = None) -> str:
    """ "Stage 2 of 4: downsizing — running (37/40 tasks), 12 min"."""
    if not jobs:
        return ""
    jobs = sorted(jobs, key=lambda j: j["step_index"])
    current = next((j for j in jobs if j["state"] != "COMPLETED"), jobs[-1])
    label = state_label(current["state"], current.get("exit_code", ""))
    text = (
        f"Stage {current['step_index'] + 1} of {len(jobs)}: "
        f"{STAGE_LABELS.get(current['step_name'], current['step_name'])} — {label[:1].lower()}{label[1:]}"
    )
    if current.get("is_array") and current.get("array_size"):
        text += f" ({current.get('array_done') or 0}/{current['array_size']} tasks)"
    if current["state"] not in ("COMPLETED",) and current.get("started_at"):
        text += f", {elapsed_text(current['started_at'], now)}"
    return text


def list_current_stages(items: list[dict]) -> dict[tuple, str]:
    """PR key -> the stage text of its active (else newest) pipeline runs, for a page of rows: one query."""
    if not items:
        return {}
    t = _tables()
    keys = [tuple(i[k] for k in PR_KEY) for i in items]
    ir_match = " OR ".join(["(r.username = %s AND r.request_name = %s AND r.sample_name = %s AND "
                            "r.imaging_request_number = %s)"] * len(keys))  # fmt: skip
    args: list = [v for k in keys for v in k[:4]]
    rows = _query(
        "SELECT r.run_id, r.kind, r.status, r.image_resolution, r.ventral_up, r.processing_request_number, "
        "r.username, r.request_name, r.sample_name, r.imaging_request_number, j.step_index, j.step_name, "
        "j.state, j.exit_code, j.is_array, j.array_size, j.array_done, j.started_at "
        f"FROM {t.run} r JOIN {t.job} j ON j.run_id = r.run_id "
        f"WHERE r.kind IN ({', '.join(repr(k) for k in MAIN_KINDS)}) AND r.superseded_by_run_id IS NULL "
        f"AND ({ir_match})",
        args,
    )
    runs: dict[int, dict] = {}
    for row in rows:
        runs.setdefault(row["run_id"], {"run": row, "jobs": []})["jobs"].append(row)
    out: dict[tuple, str] = {}
    for key in keys:
        mine = [
            r for r in runs.values()
            if tuple(r["run"][k] for k in PR_KEY[:4]) == key[:4]
            and (r["run"]["kind"] == "smartspim_stitch" or r["run"]["processing_request_number"] == key[4])
        ]  # fmt: skip
        active = [r for r in mine if r["run"]["status"] in ("queued", "running")]
        shown = active or sorted(mine, key=lambda r: -r["run"]["run_id"])[:1]
        texts = []
        for r in sorted(shown, key=lambda r: r["run"]["run_id"]):
            side = " ventral up" if r["run"]["ventral_up"] else ""
            texts.append(f"{r['run']['image_resolution']}{side}: {stage_text(r['jobs'])}")
        out[key] = "; ".join(texts)
    return out


# --- entry form and log ------------------------------------------------------------------------------


def resolution_order(rr: dict) -> tuple[int, int]:
    return (IMAGE_RESOLUTION.index(rr["image_resolution"]), int(rr["ventral_up"]))


def list_resolution_requests(pkey: dict) -> list[dict]:
    ls = get_schemas().lightsheet
    rows = (ls.Request.ProcessingResolutionRequest & pkey).to_dicts()
    return sorted(rows, key=resolution_order)


def list_imaged_channels(pkey: dict) -> list[dict]:
    ls = get_schemas().lightsheet
    ikey = {k: pkey[k] for k in PR_KEY[:4]}
    return (ls.Request.ImagingChannel & ikey).to_dicts(order_by=["image_resolution", "ventral_up", "channel_name"])


def list_processing_channels(pkey: dict) -> list[dict]:
    ls = get_schemas().lightsheet
    rows = (ls.Request.ProcessingChannel & pkey).to_dicts(order_by=["image_resolution", "ventral_up", "channel_name"])
    return sorted(rows, key=lambda r: (*resolution_order(r), r["channel_name"]))


def list_runs(pkey: dict) -> tuple[list[dict], dict[int, list[dict]]]:
    """Every run of a processing request (and the stitching runs of its imaging request), newest first,
    with their jobs (two queries)."""
    jobs_schema = get_schemas().jobs
    ikey = {k: pkey[k] for k in PR_KEY[:4]}
    runs = (jobs_schema.PipelineRun & ikey & [pkey, {"kind": "smartspim_stitch"}]).to_dicts(order_by=["run_id DESC"])
    by_run: dict[int, list[dict]] = {}
    if runs:
        for j in (jobs_schema.PipelineRun.SlurmJob & [{"run_id": r["run_id"]} for r in runs]).to_dicts(
            order_by=["run_id", "step_index"]
        ):
            by_run.setdefault(j["run_id"], []).append(j)
    return runs, by_run


def list_layers(pkey: dict) -> list[dict]:
    ls = get_schemas().lightsheet
    return (ls.Request.DataLayer & pkey).to_dicts(order_by=["image_resolution", "ventral_up", "channel_name", "product",
                                                            "lightsheet"])  # fmt: skip


def list_active_atlases() -> list[str]:
    ls = get_schemas().lightsheet
    return [r["atlas_name"] for r in (ls.Atlas & "is_active = 1").to_dicts(order_by=["atlas_name"])]


def list_waiting(ready_before: dt.datetime, running_before: dt.datetime) -> tuple[list[dict], list[dict]]:
    """Processing requests ready (imaging complete) since before `ready_before` and not started, and those
    running since before `running_before` (the daily reminder)."""
    t = _tables()
    ready = _query(
        f"SELECT p.*, i.imaging_performed_date FROM {t.processing} p "
        f"JOIN {t.imaging} i ON {_join('i', 'p', PR_KEY[:4])} "
        "WHERE p.processing_progress = 'pending' AND i.imaging_progress = 'complete' "
        "AND COALESCE(i.imaging_performed_date, DATE(p.submitted_at)) < %s ORDER BY p.submitted_at",
        [ready_before.date()],
    )
    running = _query(
        f"SELECT p.* FROM {t.processing} p WHERE p.processing_progress = 'running' AND p.started_at < %s "
        "ORDER BY p.started_at",
        [running_before],
    )
    return ready, running


# --- one run -----------------------------------------------------------------------------------------------


def list_run_jobs(run_id: int) -> list[dict]:
    """The run's Slurm jobs in step order."""
    return (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])


def list_run_job_states(run_id: int) -> list[dict]:
    """Every scheduler state observed for the run's jobs, oldest first."""
    return (get_schemas().jobs.SlurmJobState & {"run_id": run_id}).to_dicts(order_by=["observed_at"])


def get_run_job(run_id: int, step_index: int) -> dict | None:
    """The run's Slurm job of one step, or None."""
    rows = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id, "step_index": step_index}).to_dicts()
    return rows[0] if rows else None
