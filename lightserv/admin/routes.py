"""Facility admin pages: users & roles, event log, storage, dashboard (README §8)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.auth import services as auth
from lightserv.common.audit import utcnow
from lightserv.common.csvexport import csv_response
from lightserv.common.forms import form_view
from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import requires

from . import charts, dashboard, events, queries, storage
from .forms import ActiveForm, NewUserForm, RoleForm

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
    flt = events.EventFilter.from_args(request.args)
    return Response(
        events.events_csv(flt),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=lightserv-events.csv"},
    )


@bp.route("/storage")
@requires("admin")
def storage_page():
    from flask_wtf import FlaskForm

    return render_template("admin/storage.html", snapshots=storage.list_snapshots(), form=FlaskForm())


@bp.route("/storage/check", methods=["POST"])
@requires("admin")
def storage_check_now():
    """An admin-only POST (pitfall 9): run the check now instead of waiting for the daily run."""
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
