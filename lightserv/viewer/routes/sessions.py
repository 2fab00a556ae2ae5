"""The waiting / result page of sessions, its status endpoint (polled every 2 s), entering a ready session
(the access cookie) and "Stop"."""

from __future__ import annotations

import time

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from lib import viewer_access
from lightserv.models import ViewerSession

from .. import queries
from ..access import may_see_session, may_stop_session, session_route
from ..launch import access_key
from ..pages import back_links, session_card, status_json, viewer_url
from ..services import request_stop
from . import bp


@bp.route("/session/<session_id>")
@session_route("viewer.open")
def session_page(session: ViewerSession):
    sessions = [session]
    for other_id in request.args.getlist("with")[:12]:
        other = queries.get_session(other_id)
        if other is not None and other.id != session.id and may_see_session(other, current_user):
            sessions.append(other)
    cards = [session_card(s) for s in sessions]
    for card in cards:
        card["may_stop"] = may_stop_session(card["session"], current_user)
    return render_template(
        "viewer/session.html",
        cards=cards,
        back=back_links(cards),
        waiting=any(s.status == "starting" for s in sessions),
    )


@bp.route("/session/<session_id>/status")
@session_route("viewer.open")
def session_status(session: ViewerSession):
    response = jsonify(status_json(session))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/session/<session_id>/enter")
@session_route("viewer.open")
def enter_session(session: ViewerSession):
    """The owner's way into a ready session: sets the cookie its servers require, then opens Neuroglancer.
    Writes nothing on the server."""
    if session.owner != current_user.get_id():
        abort(403)
    if session.status != "ready":
        return redirect(url_for("viewer.session_page", session_id=session.id), 303)
    settings = current_app.config["SETTINGS"]
    expires = int(time.time()) + settings.viewer_cookie_seconds
    value = viewer_access.cookie_value(access_key(session.id), session.id, expires)
    response = redirect(viewer_url(session), 303)
    for path in viewer_access.cookie_paths(session.id):
        response.set_cookie(
            viewer_access.COOKIE, value, max_age=settings.viewer_cookie_seconds, path=path,
            secure=settings.cookie_secure, httponly=True, samesite="Lax",
        )  # fmt: skip
    return response


@bp.route("/session/<session_id>/stop", methods=["POST"])
@session_route("viewer.stop_session")
def stop_session(session: ViewerSession):
    reason = "user" if session.owner == current_user.get_id() else "admin"
    if request_stop(session, reason):
        flash("The viewer session is being stopped.", "info")
    else:
        flash("This viewer session has already ended.", "info")
    return redirect(url_for("viewer.session_page", session_id=session.id), 303)
