"""Static pages: markdown files in `lightserv/content/` inside the site layout.

All need login except About, which stays public: a newcomer reads what the facility
offers before having an account (the menu shows About to everyone, signed in or not).
"""

from __future__ import annotations

from flask import current_app, render_template

from lightserv.common.permissions import login_required, public

from ..content import gallery_details, render_page
from ..queries.gallery import list_gallery_links
from . import bp

TITLES = {
    "about": "About",
    "faq": "Frequently asked questions",
    "pre_handoff": "Before you hand off your samples",
    "publications": "Publications",
    "gallery": "Gallery",
}


def _content(name: str):
    settings = current_app.config["SETTINGS"]
    return render_page(
        name,
        {"facility_name": settings.facility_name, "facility_contact_email": settings.facility_contact_email},
    )


def _page(name: str):
    return render_template("requests/page.html", title=TITLES[name], page=name, content=_content(name))


@bp.route("/about")
@public
def about():
    return _page("about")


@bp.route("/faq")
@login_required
def faq():
    return _page("faq")


@bp.route("/pre-handoff")
@login_required
def pre_handoff():
    return _page("pre_handoff")


@bp.route("/publications")
@login_required
def publications():
    return _page("publications")


@bp.route("/gallery")
@login_required
def gallery():
    links = list_gallery_links()
    cards = [
        {
            "id": link.id,
            "title": link.title,
            "description": link.gallery_description,
            "details": gallery_details(link.spec or {}),
            "url": f"/viewer/links/{link.id}",
        }
        for link in links
    ]
    return render_template(
        "requests/gallery.html", title=TITLES["gallery"], page="gallery", content=_content("gallery"), cards=cards
    )
