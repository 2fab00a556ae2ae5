"""Additional processing request: `/processing/new/<username>/<request_name>/<N>`."""

from __future__ import annotations

import copy
import re

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_view
from lightserv.common.permissions import requires_request
from lightserv.requests.additional_processing import (
    SampleState,
    load_processing_context,
    request_additional_processing,
)
from lightserv.requests.form_checks import attach_errors
from lightserv.requests.services import RequestError, load_catalogue
from schemas.enums import ATLAS_LABELS

from ..forms import AdditionalProcessingForm, copy_first_sample, initial_data, to_choices
from . import bp

ACTION_RE = re.compile(r"^(copy|submit)$")


def _check_structure(form: AdditionalProcessingForm, listed: list[SampleState]) -> None:
    """Reject a tampered list of samples or resolutions with 400 (the page never changes them)."""
    if [s.form.sample_name.data for s in form.samples] != [s.sample_name for s in listed]:
        abort(400, "The list of samples was tampered with.")
    for entry, state in zip(form.samples, listed, strict=True):
        posted = [r.form.image_resolution.data for r in entry.form.resolutions]
        if posted != [r.image_resolution for r in state.resolutions]:
            abort(400, "The list of resolutions was tampered with.")


def _render(form, req, number: int, states: list[SampleState], summary=(), status: int = 200):
    atlases = sorted(load_catalogue(req["username"]).active_atlases)
    for entry in form.samples:
        for r in entry.form.resolutions:
            r.form.atlas_name.choices = [(a, ATLAS_LABELS[a]) for a in atlases]
    forms = {entry.form.sample_name.data: entry.form for entry in form.samples}
    overview = (
        url_for("requests.overview", username=req["username"], request_name=req["request_name"])
        if "requests.overview" in current_app.view_functions
        else None
    )
    return (
        render_template(
            "processing/new.html",
            form=form,
            forms=forms,
            req=req,
            number=number,
            states=states,
            first_listed=next((s.sample_name for s in states if s.listed), None),
            listed_count=sum(1 for s in states if s.listed),
            summary=list(summary),
            overview=overview,
        ),
        status,
    )


@bp.route("/new/<username>/<request_name>/<int:imaging_request_number>", methods=["GET", "POST"])
@requires_request("request.add_processing")
@form_view
def new_processing_request(req, imaging_request_number: int):
    number = imaging_request_number
    states = load_processing_context(req["username"], req["request_name"], number)
    if states is None:
        abort(404, f"This request has no imaging request {number}.")
    listed = [s for s in states if s.listed]
    if request.method == "GET":
        return _render(AdditionalProcessingForm(formdata=None, data=initial_data(listed)), req, number, states)
    form = AdditionalProcessingForm()
    match = ACTION_RE.fullmatch(request.form.get("action", ""))
    if not match:
        abort(400, "Unknown form action.")
    _check_structure(form, listed)
    if g.get("form_expired"):  # the page comes back with the input kept; nothing is written
        return _render(form, req, number, states, status=400)
    if match.group(1) == "copy":
        if not listed:
            abort(400, "There is no sample to copy from.")
        data = copy.deepcopy(form.data)
        data.pop("csrf_token", None)
        return _render(AdditionalProcessingForm(formdata=None, data=copy_first_sample(data)), req, number, states)
    try:
        created = request_additional_processing(req, number, to_choices(form), current_user.get_id())
    except RequestError as exc:
        return _render(form, req, number, states, attach_errors(form, exc.errors), status=400)
    flash(
        "Additional processing requested: "
        + "; ".join(f"sample {s}, processing request {p}" for s, p in created)
        + ". The processing staff have been notified.",
        "success",
    )
    if "requests.overview" in current_app.view_functions:
        return redirect(
            url_for("requests.overview", username=req["username"], request_name=req["request_name"]), code=303
        )
    return redirect(url_for("requests.request_list"), code=303)
