"""Antibody history and overview pages. Rows are edited by POST and addressed by
their surrogate id."""

from __future__ import annotations

import functools

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.audit import utcnow
from lightserv.common.csvexport import csv_response, pages
from lightserv.common.forms import form_view
from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import STAFF_ROLES, RouteRule, can, login_required, requires, roles_of
from lightserv.common.timefmt import to_local

from .. import antibody_services, queries
from ..forms import (
    HISTORY_OWNER_FIELDS,
    HISTORY_STAFF_FIELDS,
    OVERVIEW_FIELDS,
    AntibodyHistoryForm,
    AntibodyOverviewForm,
    NewAntibodyTrialForm,
)
from . import bp

EDIT_REFUSED = "You do not have permission to update this entry."
CSV_COLUMNS = (
    ("Date", "entry_date"),
    ("Brief description", "brief_descriptor"),
    ("Notes", "notes"),
    ("Primary antibody", "primary_antibody"),
    ("Primary conc.", "primary_concentration"),
    ("Primary lot", "primary_lot"),
    ("Secondary antibody", "secondary_antibody"),
    ("Secondary conc.", "secondary_concentration"),
    ("Secondary lot", "secondary_lot"),
    ("Animal model", "animal_model"),
    ("Owner", "username"),
    ("Request", "request_name"),
    ("Primary order info", "primary_order_info"),
    ("Secondary order info", "secondary_order_info"),
)


def _today():
    return to_local(utcnow(), current_app.config["SETTINGS"].display_timezone).date()


def may_edit_history_row(row: dict) -> bool:
    relation = "owner" if row["username"] and row["username"] == current_user.get_id() else None
    return can(current_user, "antibody.edit_history", relation)


@bp.route("/antibodies/history")
@login_required
def antibody_history():
    page_req = parse_page_request(queries.HISTORY_SORTS, "date")
    search = request.args.get("q", "")[:100]
    page = queries.list_antibody_history(page_req, search)
    viewer = current_user.get_id()
    staff = bool(roles_of(current_user) & STAFF_ROLES)
    shared = set() if staff else queries.list_shared_requests(viewer)
    for row in page.items:
        row["may_edit"] = may_edit_history_row(row)
        key = (row["username"], row["request_name"])
        row["may_view_request"] = bool(row["request_name"]) and (staff or row["username"] == viewer or key in shared)
    return render_template(
        "clearing/antibody_history.html",
        page=page,
        search=search,
        may_add=can(current_user, "antibody.new_trial"),
    )


@bp.route("/antibodies/history.csv")
@login_required
def antibody_history_csv():
    """Every row the history page finds for the same search, in its sort order."""
    first = parse_page_request(queries.HISTORY_SORTS, "date")
    fetch = functools.partial(queries.list_antibody_history, search=request.args.get("q", "")[:100])
    chunks = ([[row[c] for _, c in CSV_COLUMNS] for row in rows] for rows in pages(fetch, first))
    return csv_response("lightserv-antibody-history.csv", [label for label, _ in CSV_COLUMNS], chunks)


@bp.route("/antibodies/history/new", methods=["GET", "POST"])
@requires("antibody.new_trial")
@form_view
def antibody_history_new():
    form = NewAntibodyTrialForm()
    if request.method == "GET":
        form.entry_date.data = _today()
    elif form.validate_on_submit():
        values = {name: form[name].data or "" for name in HISTORY_OWNER_FIELDS}
        values.update(entry_date=form.entry_date.data, brief_descriptor=form.brief_descriptor.data,
                      animal_model=form.animal_model.data)  # fmt: skip
        new_id = antibody_services.create_trial(values, current_user.get_id())
        flash(f"Antibody trial {new_id} added.", "success")
        return redirect(url_for("clearing.antibody_history"), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("clearing/antibody_trial_new.html", form=form), status


def _history_row_route(view):
    """Login, the row by id (404), and the edit rule: clearing staff, admins, or the row's owner (403)."""

    @functools.wraps(view)
    def wrapper(history_id: int):
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        row = queries.get_antibody_history(history_id)
        if row is None:
            abort(404)
        if not may_edit_history_row(row):
            abort(403, EDIT_REFUSED)
        return view(row=row)

    wrapper.__lightserv_rule__ = RouteRule("action", "antibody.edit_history", notes="relation owner = row's username")  # type: ignore[attr-defined]
    return wrapper


@bp.route("/antibodies/history/<int:history_id>/edit", methods=["GET", "POST"])
@_history_row_route
@form_view
def antibody_history_edit(row: dict):
    staff = can(current_user, "antibody.edit_history_lots")
    form = AntibodyHistoryForm(data=None if request.method == "POST" else row)
    if not staff:
        form.restrict_to_owner_fields()
    if request.method == "POST":
        if form.validate_on_submit():
            columns = HISTORY_STAFF_FIELDS if staff else HISTORY_OWNER_FIELDS
            values = {c: (form[c].data if c == "entry_date" else (form[c].data or "")) for c in columns}
            antibody_services.update_history_row(row["antibody_history_id"], values, current_user.get_id())
            flash("Antibody entry updated.", "success")
            return redirect(url_for("clearing.antibody_history_edit", history_id=row["antibody_history_id"]), 303)
        return render_template("clearing/antibody_history_edit.html", form=form, row=row, staff=staff), 400
    return render_template("clearing/antibody_history_edit.html", form=form, row=row, staff=staff)


# --- overview -----------------------------------------------------------------------------------------


@bp.route("/antibodies/overview")
@login_required
def antibody_overview():
    page = queries.list_antibody_overview(parse_page_request(queries.OVERVIEW_SORTS, "description", "asc"))
    return render_template(
        "clearing/antibody_overview.html", page=page, may_edit=can(current_user, "antibody.edit_overview")
    )


def _overview_form(row: dict | None, saved: str):
    """The overview entry form (new when `row` is None): a valid POST saves it and returns to the overview
    with `saved` flashed; an invalid one shows the form again with its errors (400)."""
    form = AntibodyOverviewForm(data=None if request.method == "POST" else row)
    if request.method == "POST":
        if form.validate_on_submit():
            values = {name: form[name].data or "" for name in OVERVIEW_FIELDS}
            overview_id = None if row is None else row["antibody_overview_id"]
            antibody_services.save_overview_row(overview_id, values, current_user.get_id())
            flash(saved, "success")
            return redirect(url_for("clearing.antibody_overview"), 303)
        return render_template("clearing/antibody_overview_form.html", form=form, row=row), 400
    return render_template("clearing/antibody_overview_form.html", form=form, row=row), 200


@bp.route("/antibodies/overview/new", methods=["GET", "POST"])
@requires("antibody.edit_overview")
@form_view
def antibody_overview_new():
    return _overview_form(None, "Antibody overview entry added.")


@bp.route("/antibodies/overview/<int:overview_id>/edit", methods=["GET", "POST"])
@requires("antibody.edit_overview")
@form_view
def antibody_overview_edit(overview_id: int):
    row = queries.get_antibody_overview(overview_id)
    if row is None:
        abort(404)
    return _overview_form(row, "Antibody overview entry updated.")


@bp.route("/antibodies/overview/<int:overview_id>/delete", methods=["POST"])
@requires("antibody.edit_overview")
def antibody_overview_delete(overview_id: int):
    try:
        antibody_services.delete_overview_row(overview_id, current_user.get_id())
    except antibody_services.AntibodyError as exc:
        abort(exc.status, exc.message)
    flash("Antibody overview entry deleted.", "success")
    return redirect(url_for("clearing.antibody_overview"), 303)
