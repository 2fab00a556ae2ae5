"""The processing log: runs, stages and layers of one processing request, for
everyone who may view the request; log contents and actions for processing staff and admins."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from flask_wtf import FlaskForm

from lightserv.common.permissions import can

from .. import pages
from ..access import PR, PrContext, pr_route
from . import bp


@bp.route("/log/" + PR)
@pr_route("request.view")
def processing_log(ctx: PrContext):
    staff = can(current_user, "processing.manage_runs")
    return render_template("processing/log.html", **pages.log_page(ctx, staff), form=FlaskForm())
