"""Persistent links: a page that shows what a link opens, a POST that opens it (reuse or relaunch), rename,
revoke; an atlas on its own."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.permissions import login_required
from lightserv.common.urls import is_safe_next
from lightserv.models import ViewerLink
from schemas.enums import ATLAS_LABELS, ATLAS_NAME

from .. import catalogue, queries, services
from ..access import link_route
from ..services import LinkGone, ViewerBusy, atlas_link, rename_link
from . import bp

UNAVAILABLE = "This view is no longer available."


def _message(title: str, message: str, status: int):
    return render_template("viewer/message.html", title=title, message=message), status


def _launch(link: ViewerLink):
    """Reuse or start the user's session of `link`, then show it."""
    if link.revoked_at is not None:
        return _message("Link revoked", "This link was revoked.", 410)
    layers, warnings = catalogue.resolve_spec(link.spec or {})
    if not layers:
        return _message("View not available", UNAVAILABLE, 410)
    try:
        opened = services.open_link(link, current_user.get_id())
    except LinkGone as exc:
        return _message("Link revoked", str(exc), 410)
    except ViewerBusy as exc:
        return _message("Viewer busy", str(exc), 503)
    if not opened.reused:
        for warning in warnings:
            flash(warning, "warning")
    return redirect(url_for("viewer.session_page", session_id=opened.session.id), 303)


def _confirm(link: ViewerLink, action: str):
    """What the link shows and a button that starts it: opening a link never starts anything by itself."""
    if link.revoked_at is not None:
        return _message("Link revoked", "This link was revoked.", 410)
    layers, _warnings = catalogue.resolve_spec(link.spec or {})
    if not layers:
        return _message("View not available", UNAVAILABLE, 410)
    back = None
    if link.request_username:
        back = url_for("requests.overview", username=link.request_username, request_name=link.request_name)
    return render_template("viewer/open.html", link=link, layers=layers, action=action, back=back)


@bp.route("/links/<link_id>")
@link_route("viewer.open")
def open_link(link: ViewerLink):
    return _confirm(link, url_for("viewer.launch_link", link_id=link.id))


@bp.route("/links/<link_id>/open", methods=["POST"])
@link_route("viewer.open")
def launch_link(link: ViewerLink):
    return _launch(link)


def _back(link: ViewerLink):
    target = request.form.get("next", "")
    if is_safe_next(target):
        return redirect(target, 303)
    if link.request_username:
        url = url_for("requests.overview", username=link.request_username, request_name=link.request_name)
        return redirect(url, 303)
    return redirect(url_for("requests.gallery"), 303)


@bp.route("/links/<link_id>/edit", methods=["POST"])
@link_route("viewer.manage_link")
def edit_link(link: ViewerLink):
    title = " ".join(request.form.get("title", "").split())
    if not title or len(title) > 128:
        flash("A view's name needs 1 to 128 characters.", "danger")
        return _back(link)
    rename_link(link, title, current_user.get_id())
    flash("The view was renamed.", "success")
    return _back(link)


@bp.route("/links/<link_id>/revoke", methods=["POST"])
@link_route("viewer.manage_link")
def revoke_link(link: ViewerLink):
    services.revoke_link(link, current_user.get_id())
    flash("The link was revoked; it no longer opens.", "success")
    return _back(link)


def _installed_atlas(atlas_name: str):
    """None when the atlas layer is installed, else the page that says it is not."""
    if atlas_name not in ATLAS_NAME:
        abort(404)
    row = catalogue.get_atlas(atlas_name)
    if row is None or not row["is_active"] or not (catalogue.atlas_folder(row) / "info").is_file():
        return _message("Atlas not installed", f"The {atlas_name} atlas layer is not installed.", 404)
    return None


@bp.route("/atlas/<atlas_name>")
@login_required
def atlas(atlas_name: str):
    missing = _installed_atlas(atlas_name)
    if missing:
        return missing
    title = f"{ATLAS_LABELS.get(atlas_name, atlas_name)} atlas"
    return render_template(
        "viewer/open.html", link=None, title=title, layers=None, back=None,
        action=url_for("viewer.launch_atlas", atlas_name=atlas_name),
    )  # fmt: skip


@bp.route("/atlas/<atlas_name>/open", methods=["POST"])
@login_required
def launch_atlas(atlas_name: str):
    missing = _installed_atlas(atlas_name)
    if missing:
        return missing
    return _launch(atlas_link(atlas_name, current_user.get_id()))


@bp.app_template_global("saved_views")
def saved_views(username: str, request_name: str) -> list[dict]:
    """The request overview's "Saved views", newest first; one query for the links."""
    from lightserv.common.permissions import can

    me = current_user.get_id()
    manage_all = can(current_user, "viewer.manage_link") or (
        me == username and can(current_user, "viewer.manage_link", "owner")
    )
    creator_may = can(current_user, "viewer.manage_link", "link_creator")

    links = queries.list_request_links(username, request_name)
    return [
        {
            "link": link,
            "layers": ", ".join(
                f"{c['product'].replace('_', ' ')} {c['channel']}"
                + (f" {c['lightsheet']}" if c.get("lightsheet") not in (None, "none") else "")
                + (" + atlas" if c.get("atlas_overlay") else "")
                for c in (link.spec or {}).get("layers", [])
            ),
            "may_manage": manage_all or (link.created_by == me and creator_may),
        }
        for link in links
    ]
