"""Setup pages: choose layers, then one link and one session per view group."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_expired, form_view
from lightserv.common.permissions import requires_request
from schemas.enums import ATLAS_LABELS

from .. import catalogue
from ..groups import SPACES, Choice, GroupKey, build_spec
from ..services import ViewerBusy, save_link, start_session
from ..setup import Parsed, default_checked, general_sections, parse_choices, raw_sections
from . import bp

NOT_READY_RAW = "Raw data of this sample is not ready to view yet."
NO_RAW_VIEWS = (
    "Raw-data views are made only for single-tile LaVision acquisitions; tiled and SmartSPIM data become "
    "viewable after processing."
)
NOTHING_READY = "No data is ready to view for this request yet."


def _overview(req: dict):
    return redirect(url_for("requests.overview", username=req["username"], request_name=req["request_name"]))


def _launch_groups(req: dict, groups: dict[GroupKey, list[Choice]], atlases: dict[tuple[str, bool], str]):
    """A link and a session per view group; the result page lists them all."""
    session_ids: list[str] = []
    busy = False
    for key in sorted(groups, key=lambda k: (k.image_resolution, k.ventral_up, SPACES.index(k.space))):
        spec = build_spec(
            req["username"], req["request_name"], key, groups[key], atlases.get((key.image_resolution, key.ventral_up))
        )
        link = save_link(spec, current_user.get_id())
        try:
            session_ids.append(start_session(link, current_user.get_id()).id)
        except ViewerBusy as exc:
            busy = True
            flash(str(exc), "warning")
            break
    if not session_ids:
        return None, busy
    first, rest = session_ids[0], session_ids[1:]
    return redirect(url_for("viewer.session_page", session_id=first, **({"with": rest} if rest else {})), 303), busy


def _render(template: str, status: int = 200, **context):
    return render_template(template, max_layers=current_app.config["SETTINGS"].viewer_max_layers, **context), status


@bp.route("/setup/raw/<username>/<request_name>/<sample_name>/<int:imaging_request_number>", methods=["GET", "POST"])
@requires_request("viewer.open")
@form_view
def setup_raw(req: dict, sample_name: str, imaging_request_number: int):
    ikey = dict(username=req["username"], request_name=req["request_name"], sample_name=sample_name,
                imaging_request_number=imaging_request_number)  # fmt: skip
    imaging = catalogue.get_imaging_request(ikey)
    if imaging is None:
        abort(404)
    channels = catalogue.single_tile_lavision_channels(ikey)
    if not channels:
        flash(NO_RAW_VIEWS, "warning")
        return _overview(req)
    layers = [x for x in catalogue.list_layers(ikey) if x["product"] == "raw"]
    if imaging["imaging_progress"] != "complete" or not any(x["status"] == "ready" for x in layers):
        flash(NOT_READY_RAW, "warning")
        return _overview(req)
    parsed = Parsed({}, [], {}, set())
    status = 200
    if request.method == "POST" and not form_expired():
        parsed = parse_choices(
            request.form.getlist("layer"), request.form.getlist("overlay"), layers,
            sample_name=sample_name, imaging_request_number=imaging_request_number, processing_request_number=0,
            max_layers=current_app.config["SETTINGS"].viewer_max_layers, raw_only=True,
        )  # fmt: skip
        if not parsed.errors:
            response, busy = _launch_groups(req, parsed.groups, {})
            if response is not None:
                return response
            status = 503 if busy else 400
        else:
            status = 400
    elif request.method == "POST":
        parsed.checked = set(request.form.getlist("layer"))
        status = 400
    return _render(
        "viewer/setup_raw.html", status, req=req, key=ikey, imaging=imaging,
        sections=raw_sections(channels, layers), parsed=parsed,
    )  # fmt: skip


@bp.route(
    "/setup/<username>/<request_name>/<sample_name>/<int:imaging_request_number>/<int:processing_request_number>",
    methods=["GET", "POST"],
)
@requires_request("viewer.open")
@form_view
def setup(req: dict, sample_name: str, imaging_request_number: int, processing_request_number: int):
    pkey = dict(username=req["username"], request_name=req["request_name"], sample_name=sample_name,
                imaging_request_number=imaging_request_number,
                processing_request_number=processing_request_number)  # fmt: skip
    processing = catalogue.get_processing_request(pkey)
    if processing is None:
        abort(404)
    layers = catalogue.list_layers(pkey, processing_request_number)
    if not any(x["status"] == "ready" for x in layers):
        flash(NOTHING_READY, "warning")
        return _overview(req)
    parsed = Parsed({}, [], {}, set())
    status = 200
    atlases = catalogue.atlas_of_resolution(pkey)
    if request.method == "POST" and not form_expired():
        parsed = parse_choices(
            request.form.getlist("layer"), request.form.getlist("overlay"), layers,
            sample_name=sample_name, imaging_request_number=imaging_request_number,
            processing_request_number=processing_request_number,
            max_layers=current_app.config["SETTINGS"].viewer_max_layers, raw_only=False,
        )  # fmt: skip
        if not parsed.errors:
            response, busy = _launch_groups(req, parsed.groups, atlases)
            if response is not None:
                return response
            status = 503 if busy else 400
        else:
            status = 400
    elif request.method == "POST":
        parsed.checked = set(request.form.getlist("layer")) | {f"overlay:{v}" for v in request.form.getlist("overlay")}
        status = 400
    else:
        parsed.checked = default_checked(layers, catalogue.channel_purposes(pkey))
    imaging = catalogue.get_imaging_request(pkey) or {}
    return _render(
        "viewer/setup.html", status, req=req, key=pkey, processing=processing, imaging=imaging,
        sections=general_sections(layers), parsed=parsed, atlases=atlases, atlas_labels=ATLAS_LABELS,
    )  # fmt: skip
