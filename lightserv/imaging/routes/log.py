"""The imaging log: what was acquired for one sample's imaging request, for everyone who
may view the request."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for

from lib.naming import rawdata_resolution_dir
from lightserv.clearing.queries import get_sample_clearing
from lightserv.common.permissions import requires_request

from .. import queries
from . import bp


@bp.route("/log/<username>/<request_name>/<sample_name>/<int:imaging_request_number>")
@requires_request("request.view")
def imaging_log(req: dict, sample_name: str, imaging_request_number: int):
    key = dict(
        username=req["username"],
        request_name=req["request_name"],
        sample_name=sample_name,
        imaging_request_number=imaging_request_number,
    )
    imaging = queries.get_imaging_request(key)
    if imaging is None:
        abort(404)
    if imaging["imaging_progress"] not in ("complete", "skipped"):
        flash("Imaging is not complete for this sample yet.", "info")
        if "requests.overview" in current_app.view_functions:
            return redirect(url_for("requests.overview", username=key["username"], request_name=key["request_name"]))
        abort(404)
    settings = current_app.config["SETTINGS"]
    display_root = (settings.data_root_display or str(settings.data_root)).rstrip("/")
    channels = queries.list_sample_channels(key)
    for c in channels:
        folder = rawdata_resolution_dir(
            key["username"], key["request_name"], sample_name, imaging_request_number,
            c["image_resolution"], bool(c["ventral_up"]),
        )  # fmt: skip
        c["raw_folder"] = f"{display_root}/{folder}/{c['rawdata_subfolder']}" if c["rawdata_subfolder"] else ""
    return render_template(
        "imaging/log.html",
        key=key,
        imaging=imaging,
        clearing=get_sample_clearing(key),
        channels=channels,
        layers=queries.list_raw_layers(key),
    )
