"""The gallery: facility admins mark saved views as gallery entries with a description;
every signed-in user sees the entries on the Gallery page and may open them (`access.may_open_link`).

Marking a view opens it to everyone signed in, including people who may not see its request, so only
facility admins mark ("admin"). A revoked link cannot be marked; revoking a gallery link takes
it off the Gallery page (the page lists only links that are not revoked).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select

from lightserv.common.audit import record_event
from lightserv.common.errors import DomainError
from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import like_contains
from lightserv.extensions import db
from lightserv.models import ViewerLink

DESCRIPTION_MAX = 1000
#: ?sort= key -> columns of viewer_link
SORTS = {
    "created": (ViewerLink.created_at,),
    "title": (ViewerLink.title,),
    "request": (ViewerLink.request_username, ViewerLink.request_name),
    "opened": (ViewerLink.open_count,),
    "gallery": (ViewerLink.is_gallery,),
}
SHOW = ("all", "gallery", "other")


class GalleryError(DomainError, ValueError):
    """A mark that cannot be made (the message is shown next to the description)."""


@dataclass(frozen=True)
class LinkFilter:
    search: str = ""  # title, link id, owner or request name (substring)
    show: str = "all"  # all | gallery (entries only) | other (not in the gallery)

    @classmethod
    def from_args(cls, args) -> LinkFilter:
        show = args.get("show", "all")
        return cls(search=" ".join(args.get("q", "").split())[:100], show=show if show in SHOW else "all")


def list_links(flt: LinkFilter, page: PageRequest) -> Page:
    """Links that are not revoked, filtered, sorted and paged in SQL (two statements)."""
    query = select(ViewerLink).where(ViewerLink.revoked_at.is_(None))
    if flt.show == "gallery":
        query = query.where(ViewerLink.is_gallery.is_(True))
    elif flt.show == "other":
        query = query.where(ViewerLink.is_gallery.is_(False))
    if flt.search:
        pattern = like_contains(flt.search)
        query = query.where(
            or_(
                *(
                    c.like(pattern, escape="!")
                    for c in (ViewerLink.title, ViewerLink.id, ViewerLink.request_username, ViewerLink.request_name)
                )
            )  # fmt: skip
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    columns = SORTS[page.sort]
    ascending = page.direction == "asc"
    order = [c.asc() if ascending else c.desc() for c in columns]
    order.append(ViewerLink.id.asc() if ascending else ViewerLink.id.desc())
    rows = db.session.scalars(query.order_by(*order).limit(page.per_page).offset(page.offset)).all()
    return Page(items=list(rows), total=total, request=page)


def clean_description(text: str) -> str:
    """The description as stored: surrounding whitespace and blank lines trimmed, line ends normalised."""
    lines = [" ".join(line.split()) for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip()


def mark(link: ViewerLink, description: str, actor: str) -> None:
    """Put `link` in the gallery with `description`, or change the description of an entry."""
    text = clean_description(description)
    if link.revoked_at is not None:
        raise GalleryError("This link was revoked; a revoked link cannot be in the gallery.")
    if not text:
        raise GalleryError("Describe the view for the gallery (what it shows and why it is interesting).")
    if len(text) > DESCRIPTION_MAX:
        raise GalleryError(f"The description may have at most {DESCRIPTION_MAX} characters (it has {len(text)}).")
    before = {"is_gallery": bool(link.is_gallery), "gallery_description": link.gallery_description}
    if before == {"is_gallery": True, "gallery_description": text}:
        return
    link.is_gallery = True
    link.gallery_description = text
    record_event(
        "viewer.gallery_marked" if not before["is_gallery"] else "viewer.gallery_described",
        "viewer_link",
        {"id": link.id},
        f"Viewer link {link.id} ({link.title}) "
        + ("added to the gallery" if not before["is_gallery"] else "gallery description changed"),
        request_key=(link.request_username, link.request_name) if link.request_username else None,
        before=before,
        after={"is_gallery": True, "gallery_description": text},
        actor=actor,
    )
    db.session.commit()


def unmark(link: ViewerLink, actor: str) -> bool:
    """Take `link` out of the gallery (its description is kept for a later mark); False when it was not in."""
    if not link.is_gallery:
        return False
    link.is_gallery = False
    record_event(
        "viewer.gallery_unmarked",
        "viewer_link",
        {"id": link.id},
        f"Viewer link {link.id} ({link.title}) taken out of the gallery",
        request_key=(link.request_username, link.request_name) if link.request_username else None,
        before={"is_gallery": True},
        after={"is_gallery": False},
        actor=actor,
    )
    db.session.commit()
    return True
