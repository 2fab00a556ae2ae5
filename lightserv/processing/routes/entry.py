"""The processing entry form: show, start processing, flat-field and destriping.

Field names: `atlas|<resolution>|<ventral 0/1>`, `orientation|<resolution>|<ventral 0/1>`, `notes`, and
`flat|<resolution>|<ventral 0/1>|<wavelength>`; the flat-field buttons post
`action=channel|<resolution>|<ventral 0/1>|<wavelength>` or `action=all|<resolution>|<ventral 0/1>`.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from lightserv.common.forms import EXPIRED_MESSAGE, form_expired, form_view

from .. import pages, tasks  # noqa: F401  (the processing tasks are known to the web app's Celery)
from ..access import PR, PrContext, pr_route
from ..start import ResolutionChoice, StartInput, StartRefused, start_destriping, start_processing
from . import bp


def render_entry(ctx: PrContext, *, message: str = "", field: str = "", status: int = 200, posted=None):
    page = pages.entry_page(ctx)
    return (
        render_template(
            "processing/entry.html",
            **page,
            form=FlaskForm(),
            message=message,
            error_field=field,
            posted=posted if posted is not None else {},
            may_start=ctx.can("processing.start"),
            may_destripe=ctx.can("processing.flatfield"),
        ),
        status,
    )


def log_url(ctx: PrContext) -> str:
    return url_for("processing.processing_log", **ctx.url_args)


@bp.route("/entry/" + PR)
@pr_route("processing.start")
def entry_form(ctx: PrContext):
    return render_entry(ctx)


def parse_start() -> StartInput:
    data = StartInput(notes=request.form.get("notes", ""))
    for name, value in request.form.items():
        parts = name.split("|")
        if len(parts) != 3 or parts[0] not in ("atlas", "orientation") or parts[2] not in ("0", "1"):
            continue
        choice = data.choices.setdefault((parts[1], int(parts[2])), ResolutionChoice())
        if parts[0] == "atlas":
            choice.atlas_name = value or None
        else:
            choice.final_orientation = value or None
    return data


@bp.route("/entry/" + PR + "/start", methods=["POST"])
@pr_route("processing.start")
@form_view
def start(ctx: PrContext):
    posted = request.form.to_dict()
    if form_expired():
        return render_entry(ctx, message=EXPIRED_MESSAGE, status=400, posted=posted)
    try:
        start_processing(ctx.key, parse_start(), current_user.get_id())
    except StartRefused as exc:
        if exc.status == 404:
            abort(404)
        return render_entry(ctx, message=exc.message, field=exc.field, status=exc.status, posted=posted)
    flash("Processing has started. You will be emailed when it finishes.", "success")
    return redirect(log_url(ctx), 303)


@bp.route("/entry/" + PR + "/flatfield", methods=["POST"])
@pr_route("processing.flatfield")
@form_view
def flatfield(ctx: PrContext):
    posted = request.form.to_dict()
    if form_expired():
        return render_entry(ctx, message=EXPIRED_MESSAGE, status=400, posted=posted)
    parts = request.form.get("action", "").split("|")
    if parts[0] not in ("channel", "all") or len(parts) != (4 if parts[0] == "channel" else 3) or parts[2] not in (
        "0", "1"
    ):  # fmt: skip
        abort(400, "Choose a channel or all channels to destripe.")
    resolution, ventral = parts[1], int(parts[2])
    prefix = f"flat|{resolution}|{ventral}|"
    names = {k[len(prefix) :]: v for k, v in request.form.items() if k.startswith(prefix)}
    channels = [parts[3]] if parts[0] == "channel" else None
    try:
        run_ids = start_destriping(ctx.key, (resolution, ventral), names, channels, current_user.get_id())
    except StartRefused as exc:
        return render_entry(ctx, message=exc.message, field=exc.field, status=exc.status, posted=posted)
    flash(f"Destriping started for {len(run_ids)} channel{'s' if len(run_ids) != 1 else ''}.", "success")
    return redirect(url_for("processing.entry_form", **ctx.url_args) + f"#resolution-{resolution}-{ventral}", 303)
