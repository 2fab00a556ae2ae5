"""Additional imaging request: `/imaging/new/<username>/<request_name>`."""

from __future__ import annotations

import copy
import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_expired, form_view
from lightserv.common.permissions import requires_request
from lightserv.requests.additional_imaging import ARCHIVAL_MESSAGE, request_additional_imaging
from lightserv.requests.form_checks import attach_errors, check_tables
from lightserv.requests.forms import RESOLUTION_LABELS, default_resolution, to_resolution_wishes
from lightserv.requests.services import RequestError, load_catalogue
from lightserv.requests.submission import SampleWish
from schemas.enums import ATLAS_LABELS, IMAGE_RESOLUTION

from .. import queries
from ..forms import AdditionalImagingForm
from . import bp

ACTION_RE = re.compile(r"^(copy_imaging|submit)$|^add_resolution:(\d{1,2})$|^remove_resolution:(\d{1,2}):(\d{1,2})$")


def _render(form, req, summary=(), focus="", status=200):
    catalogue = load_catalogue(req["username"])
    for sample in form.samples:
        used = {r.form.image_resolution.data for r in sample.form.resolutions}
        sample.form.new_resolution.choices = [(r, RESOLUTION_LABELS[r]) for r in IMAGE_RESOLUTION if r not in used]
        for res in sample.form.resolutions:
            res.form.atlas_name.choices = [(a, ATLAS_LABELS[a]) for a in sorted(catalogue.active_atlases)]
    key = {"username": req["username"], "request_name": req["request_name"]}
    return render_template(
        "imaging/new.html",
        form=form,
        req=req,
        summary=list(summary),
        focus=focus,
        species=req["species"],
        registration_channels=catalogue.registration_channels,
        already=queries.list_requested_imaging(key),
    ), status


@bp.route("/new/<username>/<request_name>", methods=["GET", "POST"])
@requires_request("request.add_imaging")
@form_view
def new_imaging_request(req):
    if req["is_archival"]:
        return render_template("errors/400.html", message=ARCHIVAL_MESSAGE), 400
    key = {"username": req["username"], "request_name": req["request_name"]}
    names = queries.list_sample_names(key)
    if request.method == "GET":
        data = {
            "samples": [{"sample_name": n, "reimage": False, "new_resolution": "", "resolutions": []} for n in names],
            "self_imaging": False,
        }
        return _render(AdditionalImagingForm(formdata=None, data=data), req)
    form = AdditionalImagingForm()
    if form_expired():  # show the posted values again; act on nothing
        return _render(form, req, status=400)
    match = ACTION_RE.fullmatch(request.form.get("action", ""))
    if not match:
        abort(400, "Unknown form action.")
    if [s.form.sample_name.data for s in form.samples] != names:
        abort(400, "The list of samples was tampered with.")
    for sample in form.samples:
        check_tables(sample.form)
    data = copy.deepcopy(form.data)
    data.pop("csrf_token", None)
    if match.group(1) == "copy_imaging":
        for other in data["samples"][1:]:
            other["resolutions"] = copy.deepcopy(data["samples"][0]["resolutions"])
            other["reimage"] = True
        return _render(AdditionalImagingForm(formdata=None, data=data), req, focus="sample-2")
    if match.group(2) is not None:
        si = int(match.group(2))
        if si >= len(data["samples"]):
            abort(400, "Unknown sample.")
        sample = data["samples"][si]
        chosen = sample.get("new_resolution") or ""
        if chosen not in IMAGE_RESOLUTION or any(r["image_resolution"] == chosen for r in sample["resolutions"]):
            message = (
                f"Resolution {chosen} is already set up for sample {sample['sample_name']}."
                if chosen in IMAGE_RESOLUTION
                else "Choose a resolution to add."
            )
            form.samples.entries[si].form.new_resolution.errors = [message]
            return _render(form, req, [("Add a resolution", message)], focus=f"sample-{si + 1}", status=400)
        sample["resolutions"].append(default_resolution(chosen, req["species"]))
        sample["new_resolution"] = ""
        sample["reimage"] = True
        return _render(AdditionalImagingForm(formdata=None, data=data), req, focus=f"sample-{si + 1}-res-{chosen}")
    if match.group(3) is not None:
        si, ri = int(match.group(3)), int(match.group(4))
        if si >= len(data["samples"]) or ri >= len(data["samples"][si]["resolutions"]):
            abort(400, "Unknown resolution table.")
        data["samples"][si]["resolutions"].pop(ri)
        return _render(AdditionalImagingForm(formdata=None, data=data), req, focus=f"sample-{si + 1}")
    wishes = [SampleWish(s.form.sample_name.data, "", resolutions=to_resolution_wishes(s.form)) for s in form.samples]
    ticked = [bool(s.form.reimage.data) for s in form.samples]
    try:
        number = request_additional_imaging(
            req, wishes, ticked, self_imaging=bool(form.self_imaging.data), submitter=current_user.get_id()
        )
    except RequestError as exc:
        return _render(form, req, attach_errors(form, exc.errors), status=400)
    flash(f"Additional imaging request {number} submitted.", "success")
    if "requests.overview" in current_app.view_functions:
        return redirect(url_for("requests.overview", username=req["username"], request_name=req["request_name"]))
    return redirect(url_for("requests.request_list"))
