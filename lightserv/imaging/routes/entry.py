"""The actions of the imaging entry form: apply batch parameters, save and submit a
sample, validation status, add a ventral-up channel, skip, reopen, complete the batch.

Field names: `<scope>|<resolution>|<wavelength>|<ventral 0/1>|<column>`, scope `b` for the batch tables
and `s` for a sample section; a hidden `...|row` input lists each row (unticked checkboxes send nothing).
"""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_login import current_user

from lightserv.common.forms import EXPIRED_MESSAGE, form_expired, form_view
from lightserv.common.permissions import roles_of

from .. import channel_services, queries, sample_services, tasks
from ..access import BatchContext, batch_route
from ..batch_services import ImagingError
from ..sample_services import RowKey, SaveRefused
from . import bp
from .batch import BATCH, batch_url, render_batch

SAMPLE = BATCH + "/sample/<sample_name>"


def parse_rows(scope: str) -> dict[RowKey, dict]:
    rows: dict[RowKey, dict] = {}
    for name in request.form:
        parts = name.split("|")
        if len(parts) == 5 and parts[0] == scope and parts[4] == "row":
            rows[(parts[1], parts[2], parts[3] == "1")] = {}
    for name, value in request.form.items():
        parts = name.split("|")
        if len(parts) == 5 and parts[0] == scope:
            key = (parts[1], parts[2], parts[3] == "1")
            if key in rows and parts[4] != "row":
                rows[key][parts[4]] = value
    return rows


def _posted(sample_name: str | None = None) -> dict:
    """The posted values to show again, marked with the sample section they belong to."""
    return {**request.form.to_dict(), "_sample": sample_name or ""}


def _refused(ctx: BatchContext, exc: ImagingError, sample_name: str | None = None):
    if exc.status in (403, 404):
        abort(exc.status, exc.message)
    return render_batch(ctx, message=exc.message, status=exc.status, posted=_posted(sample_name))


def _save_refused(ctx: BatchContext, exc: SaveRefused, anchor: str):
    return render_batch(
        ctx, message="Nothing was saved: correct the fields marked below.", status=400,
        posted=_posted(None if anchor == "batch" else anchor), errors={anchor: exc.errors},
    )  # fmt: skip


def _sample_url(ctx: BatchContext, sample_name: str) -> str:
    return batch_url(ctx) + f"#sample-{sample_name}"


@bp.route(BATCH + "/apply", methods=["POST"])
@batch_route("imaging.record")
@form_view
def apply(ctx: BatchContext):
    if form_expired():
        return render_batch(ctx, message=EXPIRED_MESSAGE, status=400, posted=_posted())
    try:
        applied, warnings = sample_services.apply_batch_parameters(
            ctx.key, parse_rows("b"), current_user.get_id(), roles_of(current_user)
        )
    except SaveRefused as exc:
        return _save_refused(ctx, exc, "batch")
    except ImagingError as exc:
        return _refused(ctx, exc)
    flash(f"Batch parameters applied to {applied} sample{'' if applied == 1 else 's'}.", "success")
    for warning in warnings:
        flash(warning, "warning")
    return redirect(batch_url(ctx), 303)


@bp.route(SAMPLE + "/save", methods=["POST"])
@batch_route("imaging.record")
@form_view
def save_sample(ctx: BatchContext, sample_name: str):
    if form_expired():
        return render_batch(ctx, message=EXPIRED_MESSAGE, status=400, posted=_posted(sample_name))
    try:
        sample_services.save_sample(
            ctx.key, sample_name, parse_rows("s"), request.form.get("notes", ""), current_user.get_id(),
            roles_of(current_user),
        )  # fmt: skip
    except SaveRefused as exc:
        return _save_refused(ctx, exc, sample_name)
    except ImagingError as exc:
        return _refused(ctx, exc, sample_name)
    flash(f"Sample {sample_name} saved.", "success")
    return redirect(_sample_url(ctx, sample_name), 303)


@bp.route(SAMPLE + "/submit", methods=["POST"])
@batch_route("imaging.record")
@form_view
def submit_sample(ctx: BatchContext, sample_name: str):
    if form_expired():
        return render_batch(ctx, message=EXPIRED_MESSAGE, status=400, posted=_posted(sample_name))
    try:
        member = sample_services.submit_sample(
            ctx.key, sample_name, parse_rows("s"), request.form.get("notes", ""), current_user.get_id(),
            roles_of(current_user),
        )  # fmt: skip
    except SaveRefused as exc:
        return _save_refused(ctx, exc, sample_name)
    except ImagingError as exc:
        return _refused(ctx, exc, sample_name)
    tasks.queue_validation(member, current_user.get_id())
    # no "Validating…" message: the sample's own section shows the validation as it is when the page loads
    # (still running, failed, or passed), so nothing above it can contradict the result
    return redirect(_sample_url(ctx, sample_name), 303)


@bp.route(SAMPLE + "/validation")
@batch_route("imaging.open_batch")
def validation(ctx: BatchContext, sample_name: str):
    state = queries.get_validation(
        dict(username=ctx.key["username"], request_name=ctx.key["request_name"], sample_name=sample_name,
             imaging_request_number=ctx.key["imaging_request_number"])
    )  # fmt: skip
    members = {s["sample_name"] for s in queries.list_batch_samples(ctx.key)}
    if not state or sample_name not in members:
        abort(404)
    return jsonify(
        status=state["validation_status"],
        imaging_progress=state["imaging_progress"],
        messages=state["validation_messages"] or [],
    )


@bp.route(BATCH + "/ventral/add", methods=["POST"])
@batch_route("imaging.record")
def add_ventral(ctx: BatchContext):
    return _ventral(ctx, None)


@bp.route(SAMPLE + "/ventral/add", methods=["POST"])
@batch_route("imaging.record")
def add_ventral_sample(ctx: BatchContext, sample_name: str):
    return _ventral(ctx, sample_name)


def _ventral(ctx: BatchContext, sample_name: str | None):
    parts = request.form.get("channel", "").split("|")
    if len(parts) != 2:
        return render_batch(ctx, message="Choose a channel.", status=400)
    try:
        warnings = sample_services.add_ventral_up(
            ctx.key, sample_name, parts[0], parts[1], current_user.get_id(), roles_of(current_user)
        )
    except ImagingError as exc:
        return _refused(ctx, exc)
    flash(f"Ventral-up channel {parts[1]} added at {parts[0]}.", "success")
    for warning in warnings:
        flash(warning, "warning")
    return redirect(_sample_url(ctx, sample_name) if sample_name else batch_url(ctx), 303)


@bp.route(SAMPLE + "/skip", methods=["POST"])
@batch_route("imaging.record")
@form_view
def skip_sample(ctx: BatchContext, sample_name: str):
    if form_expired():
        return render_batch(ctx, message=EXPIRED_MESSAGE, status=400, posted=_posted(sample_name))
    try:
        sample_services.skip_sample(
            ctx.key, sample_name, request.form.get("reason", ""), current_user.get_id(), roles_of(current_user)
        )
    except SaveRefused as exc:
        return _save_refused(ctx, exc, sample_name)
    except ImagingError as exc:
        return _refused(ctx, exc, sample_name)
    flash(f"Sample {sample_name} was skipped and counts as done.", "success")
    return redirect(_sample_url(ctx, sample_name), 303)


@bp.route(SAMPLE + "/reopen", methods=["POST"])
@batch_route("imaging.reopen")
def reopen_sample(ctx: BatchContext, sample_name: str):
    try:
        sample_services.reopen_sample(ctx.key, sample_name, current_user.get_id(), roles_of(current_user))
    except ImagingError as exc:
        return _refused(ctx, exc, sample_name)
    flash(f"Sample {sample_name} was reopened.", "success")
    return redirect(_sample_url(ctx, sample_name), 303)


@bp.route(BATCH + "/complete", methods=["POST"])
@batch_route("imaging.record")
def complete(ctx: BatchContext):
    try:
        sample_services.complete_batch(ctx.key, current_user.get_id(), roles_of(current_user))
    except ImagingError as exc:
        return _refused(ctx, exc)
    flash(f"Imaging of batch {ctx.key['imaging_batch_number']} is complete; the requester has been emailed.", "success")
    return redirect(url_for("imaging.queue"), 303)


def _channel_action(ctx: BatchContext, sample_name: str | None, action: str):
    form = request.form
    resolution, wavelength = form.get("resolution", ""), form.get("channel_name", "")
    ventral = form.get("ventral_up") == "1"
    button = form.get("channel", "").split("|")  # a row's delete button: <resolution>|<wavelength>|<0/1>
    if action == "delete" and len(button) == 3:
        resolution, wavelength, ventral = button[0], button[1], button[2] == "1"
    purpose = form.get("purpose", "")
    if action == "add" and f"add|{resolution}|channel_name" in form:  # the add-channel row of one table
        wavelength = form.get(f"add|{resolution}|channel_name", "")
        purpose = form.get(f"add|{resolution}|purpose", "")
    try:
        if action == "add":
            warnings = channel_services.add_channel(
                ctx.key, sample_name, resolution, wavelength, purpose, current_user.get_id(), roles_of(current_user)
            )
            done = f"Channel {wavelength} added at {resolution}."
        else:
            warnings = channel_services.delete_channel(
                ctx.key, sample_name, resolution, wavelength, ventral, current_user.get_id(), roles_of(current_user)
            )
            done = f"Channel {wavelength}{' (ventral up)' if ventral else ''} deleted at {resolution}."
    except ImagingError as exc:
        return _refused(ctx, exc, sample_name)
    flash(done, "success")
    for warning in warnings:
        flash(warning, "warning")
    return redirect(_sample_url(ctx, sample_name) if sample_name else batch_url(ctx), 303)


@bp.route(BATCH + "/channel/add", methods=["POST"])
@batch_route("imaging.record")
def add_channel(ctx: BatchContext):
    return _channel_action(ctx, None, "add")


@bp.route(BATCH + "/channel/delete", methods=["POST"])
@batch_route("imaging.record")
def delete_channel(ctx: BatchContext):
    return _channel_action(ctx, None, "delete")


@bp.route(SAMPLE + "/channel/add", methods=["POST"])
@batch_route("imaging.record")
def add_channel_sample(ctx: BatchContext, sample_name: str):
    return _channel_action(ctx, sample_name, "add")


@bp.route(SAMPLE + "/channel/delete", methods=["POST"])
@batch_route("imaging.record")
def delete_channel_sample(ctx: BatchContext, sample_name: str):
    return _channel_action(ctx, sample_name, "delete")


def _change_resolution(ctx: BatchContext, sample_name: str | None):
    from ..resolution_change import change_resolution

    old = request.form.get("old", "")
    new = request.form.get(f"new|{old}", request.form.get("new", ""))
    try:
        warnings = change_resolution(ctx.key, sample_name, old, new, current_user.get_id(), roles_of(current_user))
    except ImagingError as exc:
        return _refused(ctx, exc, sample_name)
    flash(f"Resolution {old} changed to {new}.", "success")
    for warning in warnings:
        flash(warning, "warning")
    return redirect(_sample_url(ctx, sample_name) if sample_name else batch_url(ctx), 303)


@bp.route(BATCH + "/resolution/change", methods=["POST"])
@batch_route("imaging.record")
def change_resolution(ctx: BatchContext):
    return _change_resolution(ctx, None)


@bp.route(SAMPLE + "/resolution/change", methods=["POST"])
@batch_route("imaging.record")
def change_resolution_sample(ctx: BatchContext, sample_name: str):
    return _change_resolution(ctx, sample_name)
