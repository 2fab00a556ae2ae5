"""The clearing log and the calendar export of section dates, for everyone who may
view the request. Both are driven by the catalogue, so they work for every protocol."""

from __future__ import annotations

from flask import Response, abort, current_app, render_template, request
from flask_login import current_user

from lightserv.auth.queries import get_user_email
from lightserv.common.audit import utcnow
from lightserv.common.csvexport import csv_response
from lightserv.common.timefmt import to_local
from lightserv.requests.emails import absolute
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import queries
from ..access import BatchContext, batch_route
from ..catalogue import ProtocolDef, load_protocol
from ..ics import AllDayEvent, calendar
from . import bp

BATCH = "/batch/<username>/<request_name>/<int:number>"


def batch_page(template: str, ctx: BatchContext, proto: ProtocolDef, entries: dict, dates: dict, **page):
    """A page of the batch's record: the batch, its request and protocol, the step entries, the section dates
    and the samples, with what else the page shows."""
    return render_template(
        template,
        ctx=ctx,
        batch=ctx.batch,
        req=ctx.req,
        proto=proto,
        entries=entries,
        dates=dates,
        samples=queries.list_batch_samples(ctx.key),
        progress_labels=CLEARING_PROGRESS_LABELS,
        **page,
    )


def _filename(ctx: BatchContext, suffix: str) -> str:
    k = ctx.key
    return f"clearing_{k['username']}_{k['request_name']}_batch{k['clearing_batch_number']}{suffix}"


@bp.route(BATCH + "/log")
@batch_route("request.view")
def batch_log(ctx: BatchContext):
    proto = load_protocol(ctx.batch["protocol"])
    entries, dates = queries.get_entries(ctx.key)
    layout = "horizontal" if request.args.get("layout") == "horizontal" else "vertical"
    return batch_page("clearing/log.html", ctx, proto, entries, dates, layout=layout)


@bp.route(BATCH + "/log.csv")
@batch_route("request.view")
def batch_log_csv(ctx: BatchContext):
    """One row per step of the batch's protocol: section, step key, label, timestamp, notes, and the
    reason when the step was skipped."""
    tz = current_app.config["SETTINGS"].display_timezone
    entries, _dates = queries.get_entries(ctx.key)
    rows = []
    for section in load_protocol(ctx.batch["protocol"]).sections:
        for step in section.steps:
            row = entries.get(step.key)
            stamp = to_local(row["step_time"], tz).strftime("%Y-%m-%d %H:%M") if row and row["step_time"] else ""
            notes, reason = (row["step_notes"], row["skip_reason"]) if row else ("", "")
            rows.append([section.label, step.key, step.label, stamp, notes, reason])
    header = ["section", "step_key", "label", "timestamp", "notes", "skip_reason"]
    return csv_response(_filename(ctx, ".csv"), header, [rows])


@bp.route(BATCH + "/calendar.ics")
@batch_route("request.view")
def batch_calendar(ctx: BatchContext):
    """All saved section dates of the batch, or one (`?section=<key>`), as iCalendar."""
    settings = current_app.config["SETTINGS"]
    proto = load_protocol(ctx.batch["protocol"])
    _entries, dates = queries.get_entries(ctx.key)
    wanted = request.args.get("section")
    sections = [s for s in proto.sections if (wanted is None or s.key == wanted)]
    k = ctx.key
    overview = absolute(f"/requests/{k['username']}/{k['request_name']}")
    form = absolute(f"/clearing/batch/{k['username']}/{k['request_name']}/{k['clearing_batch_number']}")
    host = settings.public_base_url.split("://", 1)[-1].split("/", 1)[0] or "lightserv"
    email = get_user_email(current_user.get_id())
    events = [
        AllDayEvent(
            uid=f"clearing-{k['username']}-{k['request_name']}-{k['clearing_batch_number']}-{s.key}@{host}",
            day=dates[s.key]["section_date"],
            summary=f"{k['username']} {proto.label} {s.label}",
            description=(
                f"Clearing batch {k['clearing_batch_number']} of {k['username']}/{k['request_name']}: {s.label}.\n"
                f"Request: {overview}\nClearing form: {form}"
            ),
            url=overview,
            alarm_email=email,
        )
        for s in sections
        if s.key in dates and dates[s.key]["section_date"]
    ]
    if wanted is not None and not events:
        abort(404, "This section has no saved date.")
    suffix = f"_{wanted}.ics" if wanted else ".ics"
    body = calendar(events, settings.display_timezone, utcnow())
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{_filename(ctx, suffix)}"'},
    )
