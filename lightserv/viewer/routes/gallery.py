"""Marking saved views as gallery entries (facility admins). The Gallery page itself is
`/gallery`, which lists the entries for everyone signed in."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import requires
from lightserv.common.urls import is_safe_next
from lightserv.models import ViewerLink
from lightserv.requests.content import gallery_details

from .. import gallery, queries
from . import bp


def _page(errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200):
    flt = gallery.LinkFilter.from_args(request.args)
    page = gallery.list_links(flt, parse_page_request(gallery.SORTS, "created"))
    rows = [{"link": link, "details": gallery_details(link.spec or {})} for link in page.items]
    return render_template(
        "viewer/gallery_admin.html",
        page=page,
        rows=rows,
        flt=flt,
        errors=errors or {},
        values=values or {},
        description_max=gallery.DESCRIPTION_MAX,
    ), status


def _link(link_id: str) -> ViewerLink:
    link = queries.get_link(link_id)
    if link is None:
        abort(404)
    return link


def _back():
    target = request.form.get("next", "")
    return redirect(target if is_safe_next(target) else url_for("viewer.gallery_admin"), 303)


@bp.route("/admin/gallery")
@requires("admin")
def gallery_admin():
    return _page()


@bp.route("/admin/gallery/<link_id>", methods=["POST"])
@requires("admin")
def gallery_mark(link_id: str):
    link = _link(link_id)
    text = request.form.get("description", "")
    try:
        gallery.mark(link, text, current_user.get_id())
    except gallery.GalleryError as exc:
        return _page({link.id: str(exc)}, {link.id: text[: gallery.DESCRIPTION_MAX * 2]},
                     409 if link.revoked_at is not None else 400)  # fmt: skip
    flash(f"“{link.title}” is in the gallery.", "success")
    return _back()


@bp.route("/admin/gallery/<link_id>/remove", methods=["POST"])
@requires("admin")
def gallery_unmark(link_id: str):
    link = _link(link_id)
    if gallery.unmark(link, current_user.get_id()):
        flash(f"“{link.title}” was taken out of the gallery.", "success")
    else:
        flash(f"“{link.title}” was not in the gallery.", "info")
    return _back()


@bp.app_template_global("may_manage_gallery")
def may_manage_gallery() -> bool:
    """Whether the signed-in user may mark gallery entries (menus follow the routes' rule)."""
    from lightserv.common.permissions import can

    return can(current_user, "admin")
