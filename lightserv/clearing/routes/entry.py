"""The clearing entry form: one template for every protocol, driven by the catalogue, and its actions:
save, complete, reopen. A completed batch shows as a read-only record instead; opening it never changes
anything."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_view
from lightserv.common.permissions import ADMIN, roles_of

from .. import entry, queries, services
from ..access import BatchContext, batch_route, load_batch, may_open_queue
from ..catalogue import load_protocol
from ..forms import AssignForm, ReopenForm
from . import bp
from .log import BATCH, batch_page


def _actions(ctx: BatchContext) -> dict[str, bool]:
    """The state-banner actions this user may take now (each one is guarded again on POST)."""
    roles = roles_of(current_user)
    admin = ADMIN in roles
    progress, clearer = ctx.batch["clearing_progress"], ctx.batch["clearer"]
    open_ = progress != "complete"
    return {
        "claim": open_ and not clearer and ctx.can("clearing.claim"),
        "start": progress == "pending" and (ctx.is_clearer or admin or (not clearer and "clearing_staff" in roles)),
        "release": open_ and bool(clearer) and (ctx.is_clearer or admin),
        "assign": open_ and ctx.can("clearing.assign"),
        "complete": progress == "in_progress" and (ctx.is_clearer or admin),
        "reopen": progress == "complete" and ctx.can("clearing.reopen"),
    }


def is_dirty(group: entry.Group, form: dict) -> bool:
    """Whether the user edited this group since it was loaded."""
    token = form.get(group.token_field)
    return token is not None and entry.digest(entry.canonical(group, form)) != entry.token_digest(token)


def render_entry(
    ctx: BatchContext,
    *,
    submitted: dict | None = None,
    saved: tuple[str, ...] | list[str] = (),
    errors: dict[str, list[str]] | None = None,
    message: str = "",
    status: int = 200,
    focus: str = "",
    reopen_form: ReopenForm | None = None,
):
    """The form with stored values, overlaid by `submitted` values for every group not just saved, so
    unsaved edits elsewhere on the page survive a save of one group."""
    fresh = load_batch(ctx.key["username"], ctx.key["request_name"], ctx.key["clearing_batch_number"], ctx.viewer)
    if fresh is not None:
        ctx = fresh
    tz = current_app.config["SETTINGS"].display_timezone
    proto = load_protocol(ctx.batch["protocol"])
    groups = entry.groups_of(proto)
    entries, dates = queries.get_entries(ctx.key)
    stored = entry.stored_state(groups, ctx.batch, entries, dates, tz)
    values, tokens = dict(stored.values), dict(stored.tokens)
    if submitted is not None:
        for name, group in groups.items():
            if name in saved or group.token_field not in submitted:
                continue
            for f in group.fields:
                values[f] = submitted.get(f, "")
            tokens[name] = submitted[group.token_field]
    actions = _actions(ctx)
    editable = ctx.batch["clearing_progress"] == "in_progress" and actions["complete"]
    assign_form = None
    if actions["assign"]:
        assign_form = AssignForm()
        assign_form.assignee.choices = [
            (u, u) for u in queries.list_clearer_candidates(ctx.key["username"], bool(ctx.req["self_clearing"]))
        ]
    return batch_page(
        "clearing/entry.html",
        ctx,
        proto,
        entries,
        dates,
        groups=groups,
        values=values,
        stored=stored.values,
        tokens=tokens,
        changed=stored.changed,
        errors=errors or {},
        warnings=entry.out_of_order(proto, values),
        order_warnings=entry.order_warnings(proto, values),
        message=message,
        focus=focus or request.args.get("focus", "")[:100],
        actions=actions,
        editable=editable,
        unrecorded=entry.unrecorded_steps(proto, values),
        blank_dates=entry.blank_section_dates(proto, values),
        assign_form=assign_form,
        reopen_form=reopen_form or ReopenForm(formdata=None),
        earlier_message=entry.EARLIER_MESSAGE,
        timezone=tz,
    ), status


@bp.route(BATCH)
@batch_route("clearing.open_batch")
def batch_form(ctx: BatchContext):
    return render_entry(ctx)


def form_url(ctx: BatchContext, **args) -> str:
    return url_for(
        "clearing.batch_form",
        username=ctx.key["username"],
        request_name=ctx.key["request_name"],
        number=ctx.key["clearing_batch_number"],
        **args,
    )


def refused(ctx: BatchContext, exc: services.ClearingError, submitted: dict | None = None):
    if exc.status in (403, 404):
        abort(exc.status, exc.message)
    return render_entry(ctx, submitted=submitted, message=exc.message, status=exc.status)


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
        return refused(ctx, exc)
    flash("The batch was reopened and can be edited again.", "success")
    return redirect(form_url(ctx), 303)


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
        return refused(ctx, exc, form)
    if name == "all":
        count = len(result.written)
        flash(
            f"Saved {count} change{'' if count == 1 else 's'}." if count else "There were no changes to save.",
            "success",
        )
        return redirect(form_url(ctx), 303)
    group = groups[name]
    flash(f"Saved: {group.label}." if result.written else f"No change to save: {group.label}.", "success")
    focus = _focus_after(group, ctx)
    if any(is_dirty(other, form) for other_name, other in groups.items() if other_name != name):
        # other edits on the page are not stored: keep them in the re-rendered form
        return render_entry(ctx, submitted=form, saved=[name], focus=focus)
    return redirect(form_url(ctx, focus=focus) + f"#{focus}", 303)


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
        return refused(ctx, exc, form)
    flash(f"Clearing for batch {ctx.key['clearing_batch_number']} of {ctx.key['request_name']} is complete.", "success")
    for warning in result.warnings:
        flash(f"Recorded out of time order: {warning}", "warning")
    if may_open_queue(current_user):
        return redirect(url_for("clearing.queue"), 303)
    return redirect(form_url(ctx), 303)
