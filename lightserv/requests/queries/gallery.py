"""The Gallery page's entries: saved views that facility admins marked for everyone signed in."""

from __future__ import annotations

from sqlalchemy import select

from lightserv.extensions import db
from lightserv.models import ViewerLink


def list_gallery_links() -> list[ViewerLink]:
    """The gallery's entries (links not revoked), newest first."""
    return list(
        db.session.scalars(
            select(ViewerLink)
            .where(ViewerLink.is_gallery.is_(True), ViewerLink.revoked_at.is_(None))
            .order_by(ViewerLink.created_at.desc(), ViewerLink.id)
        )
    )
