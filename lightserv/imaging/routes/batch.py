"""The imaging batch page and its assignment actions: claim, start, release. The page
shows each channel's purposes, units on every field, and the researcher's orientation as the default."""

from __future__ import annotations

from flask import abort, current_app, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import EXPIRED_MESSAGE
from lightserv.workflow.actions import BatchActions
from schemas.enums import CLEARING_PROGRESS_LABELS, ORIENTATION

from .. import batch_services, queries
from ..access import BatchContext, batch_route
from ..fields import UNITS, purposes_text, show_requested_orientations
from . import bp

BATCH = "/batch/<username>/<request_name>/<int:clearing_batch>/<int:imaging_request>/<int:imaging_batch>"


def batch_url(ctx: BatchContext) -> str:
    return url_for("imaging.batch_form", **ctx.url_args)


def render_batch(
    ctx: BatchContext,
    *,
    message: str = "",
    status: int = 200,
    posted: dict | None = None,
    errors: dict | None = None,
    warnings: list[str] | None = None,
):
    samples = queries.list_batch_samples(ctx.key)
    resolutions = queries.list_batch_resolutions(ctx.key)
    channels = queries.list_batch_channels(ctx.key)
    entered = queries.list_entered_samples(ctx.key, {s["sample_name"] for s in samples})
    show_requested_orientations(channels, queries.list_requested_orientations(ctx.key), entered)
    done = sum(1 for s in samples if s["imaging_progress"] in ("complete", "skipped"))
    editable = ctx.batch["imaging_progress"] == "in_progress" and ctx.can("imaging.record")
    pending = {s["sample_name"] for s in samples if s["imaging_progress"] == "pending"}
    batch_rows: dict[str, dict] = {}  # resolution -> {(wavelength, ventral): row of the first pending sample}
    for c in channels:
        if c["sample_name"] in pending or not pending:
            batch_rows.setdefault(c["image_resolution"], {}).setdefault((c["channel_name"], c["ventral_up"]), c)
    by_sample: dict[str, dict[str, list[dict]]] = {}
    for c in channels:
        by_sample.setdefault(c["sample_name"], {}).setdefault(c["image_resolution"], []).append(c)
    settings = current_app.config["SETTINGS"]
    display_root = (settings.data_root_display or str(settings.data_root)).rstrip("/")
    return (
        render_template(
            "imaging/batch.html",
            ctx=ctx,
            bkey=ctx.url_args,
            samples=samples,
            resolutions=resolutions,
            batch_rows=batch_rows,
            by_sample=by_sample,
            res_microscope={r["image_resolution"]: r["microscope"] for r in resolutions},
            res_notes={(r["sample_name"], r["image_resolution"]): r["notes_for_imager"] for r in resolutions},
            display_root=display_root,
            units=UNITS,
            purposes_text=purposes_text,
            posted=posted,
            errors=errors or {},
            warnings=warnings or [],
            orientations=ORIENTATION,
            expired_message=EXPIRED_MESSAGE,
            candidates=queries.list_imager_candidates(ctx.key["username"], bool(ctx.req.get("self_imaging")))
            if ctx.can("imaging.assign")
            else [],
            microscope=queries.microscope_label(",".join(sorted({r["microscope"] for r in resolutions}))),
            done=done,
            editable=editable,
            message=message,
            clearing_labels=CLEARING_PROGRESS_LABELS,
        ),
        status,
    )


def _refused(ctx: BatchContext, exc: batch_services.ImagingError):
    if exc.status in (403, 404):
        abort(exc.status, exc.message)
    return render_batch(ctx, message=exc.message, status=exc.status)


@bp.route(BATCH)
@batch_route("imaging.open_batch")
def batch_form(ctx: BatchContext):
    return render_batch(ctx)


ACTIONS = BatchActions(batch_services, batch_services.ImagingError, _refused, batch_url)
ACTIONS.register(bp, BATCH, batch_route, verb="image", started="Imaging started.")


@bp.route(BATCH + "/assign", methods=["POST"])
@batch_route("imaging.assign")
def assign(ctx: BatchContext):
    assignee = request.form.get("assignee", "")[:32]
    return ACTIONS.run(
        ctx,
        lambda: batch_services.assign_batch(ctx.key, assignee, current_user.get_id()),
        f"The batch is now assigned to {assignee}.",
    )
