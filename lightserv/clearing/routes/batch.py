"""The staff-workflow actions of a clearing batch: claim, start, release and assign. Each is guarded by its
route rule here and again, against the locked row, by its service."""

from __future__ import annotations

from flask import flash, redirect
from flask_login import current_user

from lightserv.common.permissions import roles_of

from .. import services
from ..access import BatchContext, batch_route
from ..forms import AssignForm
from . import bp
from .entry import BATCH, form_url, refused, render_entry


@bp.route(BATCH + "/claim", methods=["POST"])
@batch_route("clearing.claim")
def claim(ctx: BatchContext):
    try:
        changed = services.claim_batch(ctx.key, current_user.get_id())
    except services.ClearingError as exc:
        return refused(ctx, exc)
    flash("You now hold this batch." if changed else "You already hold this batch.", "success")
    return redirect(form_url(ctx), 303)


@bp.route(BATCH + "/start", methods=["POST"])
@batch_route("clearing.open_batch")
def start(ctx: BatchContext):
    try:
        services.start_batch(ctx.key, current_user.get_id(), roles_of(current_user))
    except services.ClearingError as exc:
        return refused(ctx, exc)
    flash("Clearing started. Record each step as you go.", "success")
    return redirect(form_url(ctx), 303)


@bp.route(BATCH + "/release", methods=["POST"])
@batch_route("clearing.release")
def release(ctx: BatchContext):
    try:
        services.release_batch(ctx.key, current_user.get_id(), roles_of(current_user))
    except services.ClearingError as exc:
        return refused(ctx, exc)
    flash("The batch was released; it has no clearer now.", "success")
    return redirect(form_url(ctx), 303)


@bp.route(BATCH + "/assign", methods=["POST"])
@batch_route("clearing.assign")
def assign(ctx: BatchContext):
    form = AssignForm()
    if not form.validate_on_submit() or not form.assignee.data:
        return render_entry(ctx, message="Choose a clearing staff member.", status=400)
    try:
        services.assign_batch(ctx.key, form.assignee.data, current_user.get_id())
    except services.ClearingError as exc:
        return refused(ctx, exc)
    flash(f"Batch assigned to {form.assignee.data}.", "success")
    return redirect(form_url(ctx), 303)
