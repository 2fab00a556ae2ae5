"""The clearing entry form (clearing.md §5): one template for every protocol, driven by the catalogue.
A completed batch shows as a read-only record instead. Opening it never changes anything (pitfall 69)."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_login import current_user

from lightserv.common.permissions import ADMIN, roles_of
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import entry, queries
from ..access import BatchContext, batch_route, load_batch
from ..catalogue import load_protocol
from ..forms import AssignForm, ReopenForm
from . import bp


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
    return render_template(
        "clearing/entry.html",
        ctx=ctx,
        batch=ctx.batch,
        req=ctx.req,
        proto=proto,
        groups=groups,
        values=values,
        stored=stored.values,
        tokens=tokens,
        changed=stored.changed,
        errors=errors or {},
        entries=entries,
        dates=dates,
        warnings=entry.out_of_order(proto, values),
        order_warnings=entry.order_warnings(proto, values),
        message=message,
        focus=focus or request.args.get("focus", "")[:100],
        actions=actions,
        editable=editable,
        samples=queries.list_batch_samples(ctx.key),
        unrecorded=entry.unrecorded_steps(proto, values),
        blank_dates=entry.blank_section_dates(proto, values),
        assign_form=assign_form,
        reopen_form=reopen_form or ReopenForm(formdata=None),
        progress_labels=CLEARING_PROGRESS_LABELS,
        earlier_message=entry.EARLIER_MESSAGE,
        timezone=tz,
    ), status


@bp.route("/batch/<username>/<request_name>/<int:number>")
@batch_route("clearing.open_batch")
def batch_form(ctx: BatchContext):
    return render_entry(ctx)
