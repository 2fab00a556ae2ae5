"""Facility admin pages: users & roles, event log, storage, dashboard."""

from __future__ import annotations

import functools

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.auth import services as auth
from lightserv.common.audit import utcnow
from lightserv.common.csvexport import csv_response, pages
from lightserv.common.forms import form_view
from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import requires

from . import charts, events, queries, retention, storage
from .forms import ActiveForm, NewUserForm, RoleForm
from .queries import dashboard
from .queries import retention as retention_queries

bp = Blueprint("admin", __name__)


def _users_page(new_user_form: NewUserForm | None = None, status: int = 200):
    page_req = parse_page_request(queries.USER_SORTS, "username", "asc")
    search = request.args.get("q", "")[:100]
    page = queries.list_users(page_req, search)
    return render_template(
        "admin/users.html",
        page=page,
        search=search,
        role_form=RoleForm(),
        active_form=ActiveForm(),
        new_user_form=new_user_form or NewUserForm(),
    ), status


@bp.route("/users")
@requires("admin")
def users():
    return _users_page()


@bp.route("/users/new", methods=["POST"])
@requires("admin")
@form_view
def create_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            auth.validate_username(form.username.data)
            auth.ensure_user(
                form.username.data,
                email=form.email.data or None,
                full_name=form.full_name.data or "",
                password=form.password.data or None,
                actor=current_user.get_id(),
            )
        except auth.AuthError as exc:
            form.username.errors = [str(exc)]
        else:
            flash(f"User {form.username.data} created.", "success")
            return redirect(url_for("admin.users"))
    return _users_page(form, 400)


@bp.route("/users/roles", methods=["POST"])
@requires("admin")
def change_role():
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, "Choose a user and a role.")
    actor = current_user.get_id()
    try:
        if form.grant.data:
            changed = auth.grant_role(form.username.data, form.role.data, actor=actor)
            flash(f"{form.username.data} {'now holds' if changed else 'already held'} {form.role.data}.", "success")
        elif form.revoke.data:
            changed = auth.revoke_role(form.username.data, form.role.data, actor=actor)
            flash(
                f"{form.role.data} {'revoked from' if changed else 'was not held by'} {form.username.data}.", "success"
            )
        else:
            abort(400, "Unknown form action.")
    except auth.AuthError as exc:
        abort(400, str(exc))
    return redirect(url_for("admin.users"))


@bp.route("/users/active", methods=["POST"])
@requires("admin")
def change_active():
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400, "Choose a user.")
    if form.activate.data == form.deactivate.data:
        abort(400, "Unknown form action.")
    if form.deactivate.data and form.username.data == current_user.get_id():
        abort(400, "You cannot deactivate yourself.")
    try:
        auth.set_active(form.username.data, bool(form.activate.data), actor=current_user.get_id())
    except auth.AuthError as exc:
        abort(400, str(exc))
    flash(f"{form.username.data} is now {'active' if form.activate.data else 'inactive'}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/events")
@requires("admin")
def event_log():
    page_req = parse_page_request(events.EVENT_SORTS, "occurred_at")
    flt = events.EventFilter.from_args(request.args)
    page = events.list_events(flt, page_req)
    return render_template("admin/events.html", page=page, flt=flt, diff=events.diff)


@bp.route("/events.csv")
@requires("admin")
def event_log_csv():
    """Every event of the page's filter, in its sort order (at most `events.CSV_LIMIT`)."""
    fetch = functools.partial(events.list_events, events.EventFilter.from_args(request.args))
    first = parse_page_request(events.EVENT_SORTS, "occurred_at")
    chunks = ([events.csv_row(e) for e in rows] for rows in pages(fetch, first, events.CSV_LIMIT))
    return csv_response("lightserv-events.csv", events.CSV_HEADER, chunks)


@bp.route("/storage")
@requires("admin")
def storage_page():
    from flask_wtf import FlaskForm

    return render_template("admin/storage.html", snapshots=storage.list_snapshots(), form=FlaskForm())


@bp.route("/storage/check", methods=["POST"])
@requires("admin")
def storage_check_now():
    """An admin-only POST: run the check now instead of waiting for the daily run."""
    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        abort(400, "The form could not be accepted.")
    row = storage.take_snapshot()
    flash(f"Storage checked: {row['status']}.", "success" if row["status"] == "ok" else "warning")
    return redirect(url_for("admin.storage_page"))


@bp.route("/dashboard")
@requires("admin")
def dashboard_page():
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    figures = [dashboard.build(name, now, settings.display_timezone) for name in dashboard.FIGURES]
    return render_template("admin/dashboard.html", figures=figures, chart_of=charts.chart_of)


@bp.route("/dashboard/<name>.csv")
@requires("admin")
def dashboard_csv(name: str):
    if name not in dashboard.FIGURES:
        abort(404)
    figure = dashboard.build(name, utcnow(), current_app.config["SETTINGS"].display_timezone)
    return csv_response(f"lightserv-dashboard-{name}.csv", figure.columns, [figure.rows])


# --- retention report ---------------------------------------------------------------------


def _retention_page_request(flt):
    if flt.view == "raw":
        return parse_page_request(retention_queries.RAW_SORTS, "preference", "asc")
    return parse_page_request(retention_queries.SUPERSEDED_SORTS, "superseded", "asc")


@bp.route("/retention")
@requires("admin")
def retention_page():
    settings = current_app.config["SETTINGS"]
    flt = retention_queries.RetentionFilter.from_args(request.args)
    page_req = _retention_page_request(flt)
    if flt.view == "raw":
        page = retention_queries.list_raw(flt, page_req)
        summary = retention_queries.raw_summary(flt)
    else:
        page = retention_queries.list_superseded(flt, page_req, settings.superseded_retention_days)
        summary = []
    retention.with_sizes(page.items, flt.view, retention.Measurer(settings.data_root, retention.MEASURE_BUDGET_SECONDS))
    now = utcnow()
    return render_template(
        "admin/retention.html",
        flt=flt,
        page=page,
        summary=summary,
        now=now,
        age_days=retention.age_days,
        retention_days=settings.superseded_retention_days,
        preferences=retention_queries.PREFERENCE_ORDER,
        preference_labels=retention_queries.RETENTION_PREFERENCE_LABELS,
    )


@bp.route("/retention.csv")
@requires("admin")
def retention_csv():
    """Every row of the report for the page's filter and sort, with sizes (measured without a time limit)."""
    settings = current_app.config["SETTINGS"]
    flt = retention_queries.RetentionFilter.from_args(request.args)
    first = _retention_page_request(flt)
    measurer = retention.Measurer(settings.data_root, budget=None)
    now = utcnow()
    if flt.view == "raw":
        fetch = functools.partial(retention_queries.list_raw, flt)
        header = ["owner", "request_name", "retention_preference", "species", "archival", "testing", "samples",
                  "submitted_at_utc", "finished_at_utc", "age_days", "raw_data_bytes", "raw_data_files",
                  "raw_data_state", "raw_data_folders"]  # fmt: skip

        def row(r: dict) -> list:
            size = r["size"]
            return [r["username"], r["request_name"], r["preference"], r["species"], bool(r["is_archival"]),
                    bool(r["testing"]), r["samples"], r["submitted_at"], r["finished_at"],
                    retention.age_days(r["finished_at"], now), size.bytes if size.known else None,
                    size.files if size.known else None, size.state, " ".join(size.folders)]  # fmt: skip
    else:
        fetch = functools.partial(retention_queries.list_superseded, retention_days=settings.superseded_retention_days,
                                  flt=flt)  # fmt: skip
        header = ["owner", "request_name", "sample_name", "imaging_request", "processing_request",
                  "image_resolution", "ventral_up", "kind", "run_id", "attempt", "superseded_by_run_id",
                  "superseded_at_utc", "age_days", "past_retention", "bytes", "files", "state", "folders"]  # fmt: skip

        def row(r: dict) -> list:
            size = r["size"]
            age = retention.age_days(r["superseded_at"], now)
            return [r["username"], r["request_name"], r["sample_name"], r["imaging_request_number"],
                    r["processing_request_number"], r["image_resolution"], bool(r["ventral_up"]), r["kind"],
                    r["run_id"], r["attempt"], r["superseded_by_run_id"], r["superseded_at"], age,
                    age is not None and age >= settings.superseded_retention_days,
                    size.bytes if size.known else None, size.files if size.known else None,
                    "removed" if size.state == "missing" else size.state, " ".join(size.folders)]  # fmt: skip

    def fetch_page(page_req):
        page = fetch(page=page_req)
        retention.with_sizes(page.items, flt.view, measurer)
        return page

    chunks = ([row(r) for r in rows] for rows in pages(fetch_page, first))
    return csv_response(f"lightserv-retention-{flt.view}.csv", header, chunks)


# --- archival import ------------------------------------------------------------------------


def _archival_page(plan=None, *, csv_text: str = "", filename: str = "", status: int = 200):
    from . import archival

    return render_template(
        "admin/archival.html",
        plan=plan,
        csv_text=csv_text,
        filename=filename,
        columns=archival.COLUMNS,
        required=archival.REQUIRED,
        max_rows=archival.MAX_ROWS,
    ), status


def _archival_filename(name: str | None) -> str:
    clean = "".join(c for c in (name or "") if c.isprintable() and c not in "/\\")[-100:].strip()
    return clean or "upload.csv"


@bp.route("/archival")
@requires("admin")
def archival_page():
    return _archival_page()


@bp.route("/archival/template.csv")
@requires("admin")
def archival_template():
    from . import archival

    return csv_response("lightserv-archival-template.csv", archival.template_rows()[0], [archival.template_rows()[1:]])


@bp.route("/archival/preview", methods=["POST"])
@requires("admin")
def archival_preview():
    """Validate the uploaded CSV and show every problem or the preview; writes nothing."""
    from . import archival

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        plan = archival.Plan([], [archival.RowError(0, "file", "Choose the CSV file to import.")])
        return _archival_page(plan, status=400)
    filename = _archival_filename(upload.filename)
    data = upload.stream.read(archival.MAX_BYTES + 1)
    plan = archival.plan_from_bytes(data)
    if not plan.ok:
        return _archival_page(plan, filename=filename, status=400)
    return _archival_page(plan, csv_text=data.decode("utf-8-sig"), filename=filename)


@bp.route("/archival/import", methods=["POST"])
@requires("admin")
def archival_import():
    """Import the previewed rows (validated again: the database may have changed since the preview)."""
    from . import archival

    text = request.form.get("csv_text", "")
    filename = _archival_filename(request.form.get("filename"))
    if not text.strip():
        plan = archival.Plan([], [archival.RowError(0, "file", "Nothing to import: upload the CSV file first.")])
        return _archival_page(plan, status=400)
    if len(text.encode()) > archival.MAX_BYTES:
        plan = archival.Plan([], [archival.RowError(0, "file", "The file is too large; upload it again.")])
        return _archival_page(plan, status=400)
    plan = archival.plan_from_text(text)
    if not plan.ok:
        return _archival_page(plan, filename=filename, status=400)
    try:
        keys = archival.import_plan(plan, current_user.get_id(), filename)
    except Exception as exc:  # the transaction was rolled back: nothing was written
        from lightserv.common.errors import unavailable_service

        if unavailable_service(exc):
            raise
        current_app.logger.exception("archival import of %s failed", filename)
        problem = archival.RowError(0, "file", f"The import failed and nothing was written: {str(exc)[:300]}")
        return _archival_page(archival.Plan([], [problem]), filename=filename, status=409)
    names = ", ".join(f"{o}/{n}" for o, n in keys[:20]) + (" …" if len(keys) > 20 else "")
    flash(f"Imported {len(keys)} archival request{'s' if len(keys) != 1 else ''} from {filename}: {names}.", "success")
    return redirect(url_for("requests.request_list", sort="submitted_at", direction="desc"), 303)
