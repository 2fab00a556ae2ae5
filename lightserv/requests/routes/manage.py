"""Managing one request: delete, sharing and feedback."""

from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_view
from lightserv.common.permissions import requires, requires_request

from .. import services_manage as manage
from ..forms import AccessForm, FeedbackForm
from ..queries import people
from . import bp


def overview_or_list(req: dict, anchor: str | None = None):
    """The request overview when it exists, otherwise the request list."""
    if "requests.overview" in current_app.view_functions:
        return url_for("requests.overview", username=req["username"], request_name=req["request_name"], _anchor=anchor)
    return url_for("requests.request_list")


# ---------------------------------------------------------------------------------------------------
# Delete
# ---------------------------------------------------------------------------------------------------


@bp.route("/requests/<username>/<request_name>/delete", methods=["POST"])
@requires_request("request.delete")
def delete_request(req):
    """The dialog posts the typed name; a refusal shows the confirmation again with the reason."""
    typed = request.form.get("confirm_name", "")
    try:
        manage.delete_request(req, typed, current_user.get_id())
    except manage.ManageError as exc:
        if exc.status == 404:
            abort(404)
        return (
            render_template(
                "requests/delete.html",
                req=req,
                typed=typed,
                field_errors=exc.errors.get("confirm_name", []),
                errors=exc.errors.get("", []),
                back=overview_or_list(req),
            ),
            exc.status,
        )
    flash(manage.DELETED_MESSAGE, "success")
    return redirect(url_for("requests.request_list"), code=303)


# ---------------------------------------------------------------------------------------------------
# Sharing
# ---------------------------------------------------------------------------------------------------


@bp.route("/requests/<username>/<request_name>/access", methods=["POST"])
@requires_request("request.manage_access")
@form_view
def change_access(req):
    """One explicit action per POST: add, change_level, toggle_cc or remove (anything else is a 400)."""
    form = AccessForm()
    action = request.form.get("action", "")
    if action not in manage.ACCESS_ACTIONS:
        abort(400, "Unknown form action.")
    if not form.validate_on_submit():  # only an expired or missing CSRF token fails here
        return _sharing_page(req, form, {}, 400)
    try:
        change = manage.change_access(
            req, action, form.grantee.data or "", form.access_level.data or "", current_user.get_id()
        )
    except manage.ManageError as exc:
        return _sharing_page(req, form, exc.errors, exc.status, action)
    flash(change.message, "success")
    return redirect(overview_or_list(req, "sharing"), code=303)


@bp.route("/users/suggest")
@requires("request.submit")
def suggest_users():
    """Active users whose username or name starts with `?q=` (at most 10), for the name fields of the
    sharing and new-request forms: `{"users": [{"username": ..., "full_name": ...}]}`."""
    return jsonify(users=people.suggest(request.args.get("q", "")))


def _sharing_page(req: dict, form: AccessForm, errors: dict, status: int, action: str = ""):
    """The sharing section on its own, with the error next to the field that caused it."""
    return (
        render_template(
            "requests/sharing.html",
            req=req,
            access_rows=manage.list_access(req["username"], req["request_name"]),
            can_manage=True,
            sharing_form=form,
            sharing_errors=errors,
            sharing_action=action,
            back=overview_or_list(req, "sharing"),
        ),
        status,
    )


# ---------------------------------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------------------------------


@bp.route("/requests/<username>/<request_name>/feedback", methods=["GET", "POST"])
@requires_request("request.feedback")
@form_view
def feedback(req):
    owner, name, me = req["username"], req["request_name"], current_user.get_id()
    with_processing = manage.has_processing_request(owner, name)
    saved = manage.get_feedback(owner, name, me)
    if request.method == "GET":
        return _feedback_page(req, FeedbackForm(obj=saved), with_processing, saved, 200)
    form = FeedbackForm()
    valid = form.validate_on_submit()  # an expired token fails here and the page comes back
    if not form.check_ratings(with_processing) or not valid:
        return _feedback_page(req, form, with_processing, saved, 400)
    values = {field: form[field].data for field in manage.FEEDBACK_FIELDS}
    try:
        updated = manage.save_feedback(owner, name, me, values, with_processing=with_processing)
    except manage.ManageError as exc:
        for field, messages in exc.errors.items():
            form[field].errors = [*form[field].errors, *messages]
        return _feedback_page(req, form, with_processing, saved, 400)
    flash("Thank you, your feedback was updated." if updated else "Thank you for your feedback.", "success")
    return redirect(overview_or_list(req), code=303)


def _feedback_page(req: dict, form: FeedbackForm, with_processing: bool, saved, status: int):
    return (
        render_template(
            "requests/feedback.html",
            req=req,
            form=form,
            with_processing=with_processing,
            saved=saved,
            back=overview_or_list(req),
        ),
        status,
    )
