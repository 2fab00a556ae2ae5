"""What the processing entry form and the processing log show, built from a fixed
number of queries per page."""

from __future__ import annotations

from flask import current_app

from lib.naming import rawdata_resolution_dir
from lightserv.clearing.queries import get_sample_clearing
from lightserv.common.status import PROCESSING_PROGRESS_LABELS
from lightserv.runs.emails import log_tail
from lightserv.runs.failures import describe_failure, step_words
from lightserv.runs.model import state_label
from schemas.enums import ATLAS_LABELS, SLURM_STATE_CLASS

from . import params as P
from . import queries
from .access import PrContext
from .emails import PRODUCT_LABELS
from .pipeline import IR_KEY, microscope_of, output_folder, resolution_key
from .reruns import rerun_choices
from .start import DEFAULT_FLAT, field_name

PURPOSES = ("registration", "injection_detection", "probe_detection", "cell_detection", "generic_imaging")
#: what a channel is processed for, in words (the pipeline's role keys stay internal)
CHANNEL_ROLE_LABELS = {"regch": "registration", "injch": "injection or probe detection", "cellch": "cell detection",
                       "gench": "imaging only"}  # fmt: skip
#: run kinds in words; conversion runs (precomputed_<product>) read "viewer layer"
RUN_KIND_LABELS = {"lavision_pipeline": "processing", "smartspim_stitch": "stitching",
                   "smartspim_destripe": "destriping", "precomputed_raw": "raw-data viewer layer"}  # fmt: skip
RUN_STATUS_LABELS = {"queued": "Queued", "running": "Running", "succeeded": "Done", "failed": "Failed",
                     "cancelled": "Cancelled"}  # fmt: skip
LAYER_STATUS_LABELS = {"pending": "Pending", "converting": "Converting", "ready": "Ready", "failed": "Failed"}
#: Bootstrap badge of a stage state class
BADGE = {
    "waiting": "text-bg-light",
    "queued": "text-bg-secondary",
    "running": "text-bg-primary",
    "succeeded": "text-bg-success",
    "failed": "text-bg-danger",
    "cancelled": "text-bg-warning",
}


def decorate_jobs(jobs: list[dict], staff: bool, *, tails: bool = True) -> None:
    """Labels of a run's stages; exit codes and log tails only for staff (researchers read words)."""
    for job in jobs:
        job["step_label"] = step_words(job["step_name"])
        job["label"] = state_label(job["state"], job["exit_code"]) if staff else plain_state(job["state"])
        job["badge"] = BADGE[SLURM_STATE_CLASS.get(job["state"], "failed")]
        job["percent"] = (
            (100 * (job["array_done"] or 0) // job["array_size"])
            if job["is_array"] and job["array_size"]
            else (100 if job["state"] == "COMPLETED" else 0)
        )
        if staff and tails:
            job["stdout_tail"] = log_tail(job["stdout_path"], job["slurm_job_id"])
            job["stderr_tail"] = log_tail(job["stderr_path"], job["slurm_job_id"])


def plain_state(state: str) -> str:
    """ "Failed", "Ran out of time", "Lost": the state label without exit codes or scheduler names."""
    return state_label(state).split(" (")[0]


def plain_failure(run: dict, jobs: list[dict]) -> str:
    if run["status"] not in ("failed", "cancelled"):
        return ""
    text = describe_failure(run, jobs)
    return (
        f"{text[0].upper()}{text[1:]}. The facility has been told and is on it."
        if run["status"] == "failed"
        else (f"{text[0].upper()}{text[1:]}.")
    )


def display_root() -> str:
    settings = current_app.config["SETTINGS"]
    return (settings.data_root_display or str(settings.data_root)).rstrip("/")


def heading(rr: dict) -> str:
    return f"{rr['image_resolution']}{'_ventral_up' if rr['ventral_up'] else ''}"


def _same_side(row: dict, rr: dict) -> bool:
    return row["image_resolution"] == rr["image_resolution"] and int(row["ventral_up"]) == int(rr["ventral_up"])


def lavision_products(channel: dict, role: str, tiled: bool, has_reg: bool) -> list[str]:
    out = []
    if tiled:
        out.append("stitched planes per light sheet")
    out += ["blended full-resolution planes", "downsized volume"]
    if has_reg:
        out.append("registered volume" + (" and registration parameters" if role == "regch" else ""))
        if role == "cellch":
            out.append("detected cells")
    return out


def summary(ctx: PrContext) -> dict:
    return dict(
        key=ctx.key,
        pr=ctx.pr,
        imaging=ctx.imaging,
        species=ctx.req["species"],
        clearing=get_sample_clearing(ctx.key),
        progress_label=PROCESSING_PROGRESS_LABELS.get(ctx.pr["processing_progress"], ctx.pr["processing_progress"]),
    )


def _lavision_rows(rr: dict, channels: list[dict], stored: dict[str, dict], has_reg: bool, root: str) -> list[dict]:
    """One row per imaged channel of a LaVision side: its raw folder, role, tiling and what it will produce."""
    side = rawdata_resolution_dir(*(rr[k] for k in IR_KEY), rr["image_resolution"], bool(rr["ventral_up"]))
    raw = f"{root}/{side}"
    out = f"{root}/{output_folder(resolution_key(rr))}"
    rows = []
    for c in channels:
        role = stored[c["channel_name"]]["channel_role"] if c["channel_name"] in stored else P.channel_role(c)
        tiled = c["tiling_scheme"] != "1x1"
        rows.append(
            dict(
                label=f"{c['channel_name']}{'_ventral_up' if c['ventral_up'] else ''}",
                raw_folder=f"{raw}/{c['rawdata_subfolder']}" if c["rawdata_subfolder"] else "—",
                purposes=", ".join(p.replace("_", " ") for p in PURPOSES if c[p]),
                role=role,
                tiling=f"{c['tiling_scheme']}: "
                + ("stitching with TeraStitcher" if tiled else "blending of the light sheets"),
                output=out,
                products=lavision_products(c, role, tiled, has_reg),
            )
        )
    return rows


def _smartspim_rows(
    rr: dict, channels: list[dict], stored: dict[str, dict], runs: list[dict], layers: list[dict]
) -> dict:
    """Whether a SmartSPIM side is stitched, and one row per channel (alignment channel first) with its
    stitching, flat field, destriping and corrected layer."""
    stitch = [r for r in runs if r["kind"] == "smartspim_stitch" and _same_side(r, rr)]
    latest_stitch = stitch[0] if stitch else None
    destripes = {}
    for r in sorted((r for r in runs if r["kind"] == "smartspim_destripe" and _same_side(r, rr)),
                    key=lambda r: r["run_id"]):  # fmt: skip
        destripes[r["channel_name"]] = r
    corrected = {
        layer["channel_name"]: layer for layer in layers if layer["product"] == "corrected" and _same_side(layer, rr)
    }
    rows = []
    for position, c in enumerate(P.smartspim_order(channels)):
        row = stored.get(c["channel_name"], {})
        d = destripes.get(c["channel_name"])
        layer = corrected.get(c["channel_name"])
        rows.append(
            dict(
                channel=c["channel_name"],
                alignment=bool(row.get("is_alignment_channel")) if row else position == 0,
                stitching=RUN_STATUS_LABELS[latest_stitch["status"]] if latest_stitch else "Not started",
                flat_field=row.get("flatfield_filename") or DEFAULT_FLAT,
                flat_field_name=f"flat|{rr['image_resolution']}|{int(rr['ventral_up'])}|{c['channel_name']}",
                destriping=RUN_STATUS_LABELS[d["status"]] if d else "Not started",
                destripe_started=d is not None and d["status"] in ("queued", "running", "succeeded"),
                corrected=LAYER_STATUS_LABELS[layer["status"]] if layer else "—",
            )
        )
    return dict(stitched=latest_stitch is not None and latest_stitch["status"] == "succeeded", rows=rows)


def entry_page(ctx: PrContext) -> dict:
    pkey = ctx.key
    root = display_root()
    resolutions = queries.list_resolution_requests(pkey)
    imaged = queries.list_imaged_channels(pkey)
    processing = queries.list_processing_channels(pkey)
    runs, _jobs = queries.list_runs(pkey)
    layers = queries.list_layers(pkey)
    sections = []
    for i, rr in enumerate(resolutions, start=1):
        channels = [c for c in imaged if _same_side(c, rr)]
        stored = {c["channel_name"]: c for c in processing if _same_side(c, rr)}
        has_reg = any(c["registration"] for c in channels)
        section = dict(
            rr=rr,
            index=i,
            count=len(resolutions),
            heading=heading(rr),
            microscope=microscope_of(rr["image_resolution"]),
            has_reg=has_reg,
            atlas_field=field_name("atlas", rr),
            orientation_field=field_name("orientation", rr),
        )
        if section["microscope"] == "lavision":
            section["rows"] = _lavision_rows(rr, channels, stored, has_reg, root)
        else:
            section.update(_smartspim_rows(rr, channels, stored, runs, layers))
        sections.append(section)
    atlases = queries.list_active_atlases()
    return dict(
        summary(ctx),
        sections=sections,
        atlases=[(a, ATLAS_LABELS[a]) for a in atlases],
        read_only=ctx.pr["processing_progress"] != "pending",
    )


def log_page(ctx: PrContext, staff: bool) -> dict:
    pkey = ctx.key
    resolutions = queries.list_resolution_requests(pkey)
    runs, jobs = queries.list_runs(pkey)
    layers = queries.list_layers(pkey)
    channels = queries.list_processing_channels(pkey)
    sections = []
    for rr in resolutions:
        mine = [r for r in runs if _same_side(r, rr)]
        for r in mine:
            r["jobs"] = jobs.get(r["run_id"], [])
            decorate_jobs(r["jobs"], staff, tails=False)
            r["plain_failure"] = plain_failure(r, r["jobs"])
            r["status_label"] = RUN_STATUS_LABELS.get(r["status"], r["status"])
            r["stage_text"] = queries.stage_text(r["jobs"]) if r["jobs"] else ""
            r["choices"] = rerun_choices(r["jobs"]) if r["jobs"] else []
            for j in r["jobs"]:
                j["elapsed"] = (
                    queries.elapsed_text(j["started_at"], j["ended_at"]) if j["started_at"] and j["ended_at"] else
                    queries.elapsed_text(j["started_at"]) if j["started_at"] else ""
                )  # fmt: skip
        pipeline_runs = [r for r in mine if r["kind"] in ("lavision_pipeline", "smartspim_stitch")]
        doc = pipeline_runs[0]["params"] if pipeline_runs else {}
        sections.append(
            dict(
                rr=rr,
                heading=heading(rr),
                microscope=microscope_of(rr["image_resolution"]),
                params=dict(
                    atlas=ATLAS_LABELS.get(rr["atlas_name"], rr["atlas_name"]),
                    orientation=rr["final_orientation"],
                    pixel_size=doc.get("xyz_scale_um"),
                    resize_factor=doc.get("resizefactor"),
                    stitching_method=doc.get("stitchingmethod")
                    or ("SmartSPIM tile placement" if microscope_of(rr["image_resolution"]) == "smartspim" else ""),
                    code_commit=pipeline_runs[0]["code_commit"] if pipeline_runs else None,
                    output_dir=f"{display_root()}/{rr['output_dir']}" if rr["output_dir"] else "",
                ),
                pipeline_runs=[r for r in mine if not r["kind"].startswith("precomputed_")],
                conversion_runs=[r for r in mine if r["kind"].startswith("precomputed_")],
                layers=[
                    dict(layer, status_label=LAYER_STATUS_LABELS.get(layer["status"], layer["status"]))
                    for layer in layers
                    if _same_side(layer, rr)
                ],
                has_reg=bool(doc.get("atlasfile")),
            )
        )
    for c in channels:
        c["role_label"] = CHANNEL_ROLE_LABELS.get(c["channel_role"], c["channel_role"])
    return dict(
        summary(ctx),
        sections=sections,
        channels=channels,
        staff=staff,
        run_kinds=RUN_KIND_LABELS,
        product_labels=PRODUCT_LABELS,
        atlases=[(a, ATLAS_LABELS[a]) for a in queries.list_active_atlases()],
    )
