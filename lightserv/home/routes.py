"""The home page. Viewing it changes nothing."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from lightserv.common.permissions import requires

from .page import build_home
from .work import counted

bp = Blueprint("home", __name__)


@bp.route("/")
@requires("home")
def index():
    return render_template("home/index.html", home=build_home(current_user), counted=counted)
