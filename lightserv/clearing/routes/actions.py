"""The explicit POST actions of a clearing batch (clearing.md §3, §5.3, §7): claim, start, release,
assign, save, complete, reopen. Each is guarded by its route rule here and again, against the locked
row, by its service."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_view
from lightserv.common.permissions import roles_of

from .. import entry, services
from ..access import BatchContext, batch_route, may_open_queue
from ..catalogue import load_protocol
from ..forms import AssignForm, ReopenForm
from . import bp
from .entry_page import is_dirty, render_entry

BATCH = "/batch/<username>/<request_name>/<int:number>"


def _form_url(ctx: BatchContext, **args) -> str:
    return url_for(
        "clearing.batch_form",
        username=ctx.key["username"],
        request_name=ctx.key["request_name"],
        number=ctx.key["clearing_batch_number"],
        **args,
    )


def _refused(ctx: BatchContext, exc: services.ClearingError, submitted: dict | None = None):
    if exc.status in (403, 404):
        abort(exc.status, exc.message)
    return render_entry(ctx, submitted=submitted, message=exc.message, status=exc.status)


@bp.route(BATCH + "/claim", methods=["POST"])
@batch_route("clearing.claim")
def claim(ctx: BatchContext):
    try:
        changed = services.claim_batch(ctx.key, current_user.get_id())
    except services.ClearingError as exc:
        return _refused(ctx, exc)
    flash("You now hold this batch." if changed else "You already hold this batch.", "success")
    return redirect(_form_url(ctx), 303)


@bp.route(BATCH + "/start", methods=["POST"])
@batch_route("clearing.open_batch")
def start(ctx: BatchContext):
    try:
        services.start_batch(ctx.key, current_user.get_id(), roles_of(current_user))
    except services.ClearingError as exc:
        return _refused(ctx, exc)
    flash("Clearing started. Record each step as you go.", "success")
    return redirect(_form_url(ctx), 303)


@bp.route(BATCH + "/release", methods=["POST"])
@batch_route("clearing.release")
def release(ctx: BatchContext):
    try:
        services.release_batch(ctx.key, current_user.get_id(), roles_of(current_user))
    except services.ClearingError as exc:
        return _refused(ctx, exc)
    flash("The batch was released; it has no clearer now.", "success")
    return redirect(_form_url(ctx), 303)


@bp.route(BATCH + "/assign", methods=["POST"])
@batch_route("clearing.assign")
def assign(ctx: BatchContext):
    form = AssignForm()
    if not form.validate_on_submit() or not form.assignee.data:
        return render_entry(ctx, message="Choose a clearing staff member.", status=400)
    try:
        services.assign_batch(ctx.key, form.assignee.data, current_user.get_id())
    except services.ClearingError as exc:
        return _refused(ctx, exc)
    flash(f"Batch assigned to {form.assignee.data}.", "success")
    return redirect(_form_url(ctx), 303)


@bp.route(BATCH + "/reopen", methods=["POST"])
@batch_route("clearing.reopen")
@form_view
def reopen(ctx: BatchContext):
    if ctx.batch["clearing_progress"] != "complete":
        return render_entry(ctx, message="Only a completed batch can be reopened.", status=409)
    form = ReopenForm()
    if not form.validate_on_submit():
        return render_entry(ctx, reopen_form=form, message="Give a reason for reopening.", status=400)
    try:
        services.reopen_batch(ctx.key, form.reason.data, current_user.get_id())
    except services.ClearingError as exc:
        return _refused(ctx, exc)
    flash("The batch was reopened and can be edited again.", "success")
    return redirect(_form_url(ctx), 303)


# --- saving and completing ----------------------------------------------------------------------------


def _posted(ctx: BatchContext) -> tuple[dict[str, entry.Group], dict]:
    """The protocol's groups and the posted fields; any field the protocol does not have is a 400."""
    groups = entry.groups_of(load_protocol(ctx.batch["protocol"]))
    unknown = set(request.form) - entry.allowed_fields(groups)
    if unknown:
        abort(400, f"Unknown form field: {sorted(unknown)[0][:64]}.")
    return groups, request.form.to_dict()


def _focus_after(group: entry.Group, ctx: BatchContext) -> str:
    proto = load_protocol(ctx.batch["protocol"])
    if group.kind == "step":
        following = proto.next_step(group.key)
        return f"step-{following.key}" if following else "clearing-notes"
    if group.kind in ("section", "lot"):
        section_key = (
            group.key
            if group.kind == "section"
            else next(s.key for s in proto.sections if f"lot:{s.lot_field}" == group.name)
        )
        section = next(s for s in proto.sections if s.key == section_key)
        return f"step-{section.steps[0].key}" if section.steps else group.anchor
    return group.anchor


@bp.route(BATCH + "/save", methods=["POST"])
@batch_route("clearing.record")
@form_view
def save(ctx: BatchContext):
    groups, form = _posted(ctx)
    name = form.get("group", "")
    if name != "all" and name not in groups:
        abort(400, "Unknown form action.")
    if g.get("form_expired"):
        return render_entry(ctx, submitted=form, status=400)
    try:
        result = services.save_entries(ctx.key, form, name, current_user.get_id(), roles_of(current_user))
    except services.SaveRefused as exc:
        return render_entry(ctx, submitted=form, errors=exc.errors, status=exc.status)
    except services.ClearingError as exc:
        return _refused(ctx, exc, form)
    if name == "all":
        count = len(result.written)
        flash(
            f"Saved {count} change{'' if count == 1 else 's'}." if count else "There were no changes to save.",
            "success",
        )
        return redirect(_form_url(ctx), 303)
    group = groups[name]
    flash(f"Saved: {group.label}." if result.written else f"No change to save: {group.label}.", "success")
    focus = _focus_after(group, ctx)
    if any(is_dirty(other, form) for other_name, other in groups.items() if other_name != name):
        # other edits on the page are not stored: keep them in the re-rendered form
        return render_entry(ctx, submitted=form, saved=[name], focus=focus)
    return redirect(_form_url(ctx, focus=focus) + f"#{focus}", 303)


@bp.route(BATCH + "/complete", methods=["POST"])
@batch_route("clearing.record")
@form_view
def complete(ctx: BatchContext):
    _groups, form = _posted(ctx)
    if g.get("form_expired"):
        return render_entry(ctx, submitted=form, status=400)
    try:
        result = services.complete_batch(ctx.key, form, current_user.get_id(), roles_of(current_user))
    except services.SaveRefused as exc:
        return render_entry(ctx, submitted=form, errors=exc.errors, status=exc.status)
    except services.ClearingError as exc:
        return _refused(ctx, exc, form)
    flash(f"Clearing for batch {ctx.key['clearing_batch_number']} of {ctx.key['request_name']} is complete.", "success")
    for warning in result.warnings:
        flash(f"Recorded out of time order: {warning}", "warning")
    if may_open_queue(current_user):
        return redirect(url_for("clearing.queue"), 303)
    return redirect(_form_url(ctx), 303)
