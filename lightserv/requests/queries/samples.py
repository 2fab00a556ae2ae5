"""The imaging and processing requests of samples, for the sample list and the request overview: a fixed
number of queries whatever the number of samples."""

from __future__ import annotations

import datajoint as dj
from pymysql.converters import escape_item

from lightserv.db import get_schemas

PIPELINE_KINDS = ("lavision_pipeline", "smartspim_stitch", "smartspim_destripe")


def key_condition(rows: list[dict], columns: tuple[str, ...]) -> str | list:
    """A DataJoint restriction selecting the keys of `rows` (values read from the database, escaped by
    the driver): `(a, b) IN ((...), ...)`, which MariaDB answers with primary-key ranges."""
    if not rows:
        return []
    tuples = ",".join("(" + ",".join(escape_item(r[c], "utf8mb4") for c in columns) + ")" for r in rows)
    return f"({', '.join(f'`{c}`' for c in columns)}) IN ({tuples})"


SAMPLE_KEY = ("username", "request_name", "sample_name")


def _skey(row: dict) -> tuple:
    return tuple(row[k] for k in SAMPLE_KEY)


def attach_imaging(samples: list[dict], restriction) -> None:
    """Give each sample row `imaging`: every imaging request (with `resolutions`, `raw_ready` and
    `processing`: every processing request with `resolutions`, `stages` and `ready`). `restriction`
    selects the samples (a request key or a list of sample keys); a fixed number of queries."""
    for s in samples:
        s["imaging"] = []
    if not samples or not restriction:
        return
    ls = get_schemas().lightsheet
    jobs_schema = get_schemas().jobs
    part = ls.Request
    imaging = (
        (part.ImagingRequest & restriction)
        .proj("imager", "imaging_progress")
        .to_dicts(order_by=[*SAMPLE_KEY, "imaging_request_number"])
    )
    resolutions: dict[tuple, list[str]] = {}
    for r in (part.ImagingResolutionRequest & restriction).proj().to_dicts():
        resolutions.setdefault((*_skey(r), r["imaging_request_number"]), []).append(r["image_resolution"])
    processing = (
        (part.ProcessingRequest & restriction)
        .proj("processor", "processing_progress", "failure_summary")
        .to_dicts(order_by=[*SAMPLE_KEY, "imaging_request_number", "processing_request_number"])
    )
    pipelines: dict[tuple, list[dict]] = {}
    prrs = (part.ProcessingResolutionRequest & restriction).proj("atlas_name", "pipeline_status")
    for r in prrs.to_dicts(order_by=["image_resolution", "ventral_up"]):
        pipelines.setdefault((*_skey(r), r["imaging_request_number"], r["processing_request_number"]), []).append(r)
    ready_rows = (
        dj.U(*SAMPLE_KEY, "imaging_request_number", "processing_request_number")
        & (part.DataLayer & restriction & "status = 'ready'")
    ).to_dicts()
    ready = {(*_skey(r), r["imaging_request_number"], r["processing_request_number"]) for r in ready_rows}
    stages = _stage_texts(jobs_schema, restriction) if processing else {}

    by_imaging: dict[tuple, list[dict]] = {}
    for p in processing:
        target = (*_skey(p), p["imaging_request_number"])
        key = (*target, p["processing_request_number"])
        p["resolutions"] = pipelines.get(key, [])
        for prr in p["resolutions"]:
            prr["stage"] = stages.get((*key, prr["image_resolution"], prr["ventral_up"]), "")
        p["ready"] = key in ready
        by_imaging.setdefault(target, []).append(p)
    by_sample: dict[tuple, list[dict]] = {}
    for i in imaging:
        target = (*_skey(i), i["imaging_request_number"])
        i["resolutions"] = sorted(resolutions.get(target, []))
        i["processing"] = by_imaging.get(target, [])
        i["raw_ready"] = (*target, 0) in ready
        by_sample.setdefault(_skey(i), []).append(i)
    for s in samples:
        s["imaging"] = by_sample.get(_skey(s), [])


def _stage_texts(jobs_schema, restriction) -> dict[tuple, str]:
    """(sample key, imaging n, processing n, resolution, ventral_up) -> "Stage k of n: ..." of the latest
    pipeline run of each processing resolution request (two queries)."""
    from lightserv.runs.model import progress_text

    kinds = ", ".join(f"'{k}'" for k in PIPELINE_KINDS)
    runs = (jobs_schema.PipelineRun & restriction & "processing_request_number > 0" & f"kind IN ({kinds})").proj(
        *SAMPLE_KEY, "imaging_request_number", "processing_request_number", "image_resolution", "ventral_up"
    )
    latest: dict[tuple, int] = {}
    for r in runs.to_dicts(order_by=["run_id"]):
        target = (*_skey(r), r["imaging_request_number"], r["processing_request_number"])
        latest[(*target, r["image_resolution"], r["ventral_up"])] = r["run_id"]
    if not latest:
        return {}
    jobs: dict[int, list[dict]] = {}
    for j in (jobs_schema.PipelineRun.SlurmJob & [{"run_id": i} for i in latest.values()]).to_dicts():
        jobs.setdefault(j["run_id"], []).append(j)
    return {target: progress_text(jobs.get(run_id, [])) for target, run_id in latest.items()}


