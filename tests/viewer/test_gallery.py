"""Gallery entries (issue 9): facility admins mark saved views as gallery entries with a
description; every signed-in user sees them on the Gallery page and may open them, even without access to
the view's request. Marking and unmarking are event-logged POSTs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from lightserv.extensions import db
from lightserv.models import EventLog, ViewerLink
from tests.support.auth import sign_in

PAGE = "/viewer/admin/gallery"


@pytest.fixture
def world(app, make_user):
    """ana's request with a ready raw layer and a saved view of it (`link`) with a starting session; bo is a
    researcher with no relation to it; root is an admin."""
    from tests.matrix.viewer import viewer_world

    users = {"owner": make_user("ana"), "auditor": make_user("au"), "collaborator": make_user("co")}
    make_user("bo")
    make_user("root", roles=["facility_admin"])
    make_user("cleo", roles=["clearing_staff"])
    made = viewer_world(app, users)
    return {**users, **made}


def _as(client, username: str) -> None:
    sign_in(client, username, clear=True)


def _post(client, url: str, data: dict | None = None):
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/about").get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def _link(app, link_id: str) -> ViewerLink:
    with app.app_context():
        link = db.session.get(ViewerLink, link_id)
        db.session.expunge(link)
        return link


def _events(app, action: str) -> list[EventLog]:
    with app.app_context():
        rows = db.session.scalars(select(EventLog).where(EventLog.action == action).order_by(EventLog.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def _add_links(app, n: int, prefix: str = "x") -> list[str]:
    ids = [f"{prefix}{i:09d}"[:10] for i in range(n)]
    with app.app_context():
        db.session.add_all(
            [
                ViewerLink(
                    id=i,
                    created_by="root",
                    created_at=dt.datetime(2030, 1, 1) + dt.timedelta(minutes=k),
                    title=f"View {k:03d}",
                    spec={"version": 1, "atlas_only": True, "atlas_name": "allen_2017"},
                )
                for k, i in enumerate(ids)
            ]  # fmt: skip
        )
        db.session.commit()
    return ids


def test_only_facility_admins_open_the_marking_page_and_post(client, world):
    link = world["link"]
    for user in ("bo", "ana", "cleo"):
        _as(client, user)
        assert client.get(PAGE).status_code == 403
        assert _post(client, f"{PAGE}/{link}", {"description": "A view"}).status_code == 403
        assert _post(client, f"{PAGE}/{link}/remove").status_code == 403
    with client.session_transaction() as sess:
        sess.clear()
    assert client.get(PAGE).status_code == 302
    _as(client, "root")
    html = client.get(PAGE).get_data(as_text=True)
    assert f'data-link="{link}"' in html and 'data-testid="gallery-warning"' in html
    assert not _link(client.application, link).is_gallery


def test_a_marked_view_is_on_the_gallery_and_opens_for_every_signed_in_user(app, client, world):
    link = world["link"]
    _as(client, "bo")
    assert client.get(f"/viewer/links/{link}").status_code == 404  # not bo's request
    assert "gallery-card" not in client.get("/gallery").get_data(as_text=True)

    _as(client, "root")
    resp = _post(client, f"{PAGE}/{link}", {"description": "  Raw  light-sheet data\r\nof a whole brain.  ",
                                            "next": f"{PAGE}?show=all"})  # fmt: skip
    assert resp.status_code == 303 and resp.headers["Location"] == f"{PAGE}?show=all"
    stored = _link(app, link)
    assert stored.is_gallery and stored.gallery_description == "Raw light-sheet data\nof a whole brain."
    (event,) = _events(app, "viewer.gallery_marked")
    assert event.actor == "root" and event.entity_key == {"id": link}
    assert event.before == {"is_gallery": False, "gallery_description": ""}
    assert event.after["is_gallery"] is True and (event.request_username, event.request_name) == ("ana", "matrix_view")

    _as(client, "bo")
    html = client.get("/gallery").get_data(as_text=True)
    assert html.count('data-testid="gallery-card"') == 1
    card = html.split('data-testid="gallery-card"', 1)[1]
    assert "Raw light-sheet data" in card and f'href="/viewer/links/{link}"' in card
    assert 'data-testid="manage-gallery"' not in html  # researchers get no link to the marking page
    page = client.get(f"/viewer/links/{link}")
    assert page.status_code == 200 and 'data-testid="start-viewer"' in page.get_data(as_text=True)
    resp = _post(client, f"/viewer/links/{link}/open")
    assert resp.status_code == 303  # bo's own session of the link starts
    assert client.get(resp.headers["Location"]).status_code == 200
    _as(client, "root")
    assert 'data-testid="manage-gallery"' in client.get("/gallery").get_data(as_text=True)


def test_taking_a_view_out_of_the_gallery_closes_it_again(app, client, world):
    link = world["link"]
    _as(client, "root")
    assert _post(client, f"{PAGE}/{link}", {"description": "Example"}).status_code == 303
    resp = _post(client, f"{PAGE}/{link}/remove")
    assert resp.status_code == 303 and resp.headers["Location"] == PAGE
    stored = _link(app, link)
    assert not stored.is_gallery and stored.gallery_description == "Example"  # kept for a later mark
    (event,) = _events(app, "viewer.gallery_unmarked")
    assert event.before == {"is_gallery": True} and event.after == {"is_gallery": False}
    _as(client, "bo")
    assert "gallery-card" not in client.get("/gallery").get_data(as_text=True)
    assert client.get(f"/viewer/links/{link}").status_code == 404
    _as(client, "root")
    assert _post(client, f"{PAGE}/{link}/remove").status_code == 303  # already out: nothing written
    assert len(_events(app, "viewer.gallery_unmarked")) == 1


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("", "Describe the view for the gallery"),
        ("   \n  ", "Describe the view for the gallery"),
        ("x" * 1001, "at most 1000 characters (it has 1001)"),
    ],
)
def test_a_mark_without_a_proper_description_shows_the_error_next_to_the_field(app, client, world, description,
                                                                               message):  # fmt: skip
    link = world["link"]
    _as(client, "root")
    resp = _post(client, f"{PAGE}/{link}?sort=title&direction=asc", {"description": description})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    row = html.split(f'data-link="{link}"', 1)[1].split("</tr>", 1)[0]
    assert f'data-testid="mark-error-{link}"' in row and message in row and 'aria-invalid="true"' in row
    # the answer keeps the page's sort, and its links point at the page, never at the POST address
    assert 'aria-sort="ascending"' in html and f'href="{PAGE}?sort=' in html and f'href="{PAGE}/{link}' not in html
    assert not _link(app, link).is_gallery and not _events(app, "viewer.gallery_marked")


def test_a_revoked_link_cannot_be_marked(app, client, world):
    link = world["link"]
    with app.app_context():
        row = db.session.get(ViewerLink, link)
        row.revoked_at, row.revoked_by = dt.datetime(2030, 1, 1), "ana"
        db.session.commit()
    _as(client, "root")
    resp = _post(client, f"{PAGE}/{link}", {"description": "Example"})
    assert resp.status_code == 409
    assert "a revoked link cannot be in the gallery" in resp.get_data(as_text=True)
    assert not _link(app, link).is_gallery
    assert f'data-link="{link}"' not in client.get(PAGE).get_data(as_text=True)  # revoked links are not listed


def test_changing_the_description_is_logged_once_per_change(app, client, world):
    link = world["link"]
    _as(client, "root")
    for text in ("First words", "Better words", "Better words"):
        assert _post(client, f"{PAGE}/{link}", {"description": text}).status_code == 303
    assert len(_events(app, "viewer.gallery_marked")) == 1
    (changed,) = _events(app, "viewer.gallery_described")
    assert changed.before["gallery_description"] == "First words"
    assert changed.after["gallery_description"] == "Better words"
    html = client.get("/gallery").get_data(as_text=True)
    assert "Better words" in html and "First words" not in html


def test_unknown_links_are_404(client, world):
    _as(client, "root")
    assert _post(client, f"{PAGE}/nope000000", {"description": "x"}).status_code == 404
    assert _post(client, f"{PAGE}/{'a' * 40}/remove").status_code == 404


def test_the_list_is_filtered_sorted_and_paged_in_sql(app, client, world):
    link = world["link"]
    ids = _add_links(app, 52)
    _as(client, "root")
    assert _post(client, f"{PAGE}/{ids[3]}", {"description": "An atlas"}).status_code == 303
    html = client.get(PAGE).get_data(as_text=True)
    assert html.count("data-link=") == 50 and "Page 1 of 2 (53 views)" in html
    second = client.get(f"{PAGE}?page=2").get_data(as_text=True)
    assert second.count("data-link=") == 3
    by_title = re.findall(r'data-link="([^"]+)"', client.get(f"{PAGE}?sort=title&direction=asc").get_data(as_text=True))
    assert by_title[0] == link  # "matrix_view / s1 …" before "View 000" (case-insensitive collation)
    assert by_title == sorted(by_title, key=lambda i: _link(app, i).title.lower())
    only = re.findall(r'data-link="([^"]+)"', client.get(f"{PAGE}?show=gallery").get_data(as_text=True))
    assert only == [ids[3]]
    others = client.get(f"{PAGE}?show=other").get_data(as_text=True)
    assert f'data-link="{ids[3]}"' not in others
    found = re.findall(r'data-link="([^"]+)"', client.get(f"{PAGE}?q=View 01").get_data(as_text=True))
    assert sorted(found) == sorted(ids[10:20])
    assert re.findall(r'data-link="([^"]+)"', client.get(f"{PAGE}?q=matrix_view").get_data(as_text=True)) == [link]
    assert client.get(f"{PAGE}?q=%25").get_data(as_text=True).count("data-link=") == 0  # % is no wildcard


def test_the_overview_marks_gallery_views_and_offers_admins_the_marking_page(app, client, world):
    link = world["link"]
    _as(client, "root")
    _post(client, f"{PAGE}/{link}", {"description": "Example"})
    html = client.get("/requests/ana/matrix_view").get_data(as_text=True)
    row = html.split(f'data-link="{link}"', 1)[1].split("</tr>", 1)[0]
    assert "in gallery" in row and f"/viewer/admin/gallery?q={link}" in row
    _as(client, "ana")
    row = client.get("/requests/ana/matrix_view").get_data(as_text=True).split(f'data-link="{link}"', 1)[1]
    assert "in gallery" in row.split("</tr>", 1)[0] and "/viewer/admin/gallery" not in row.split("</tr>", 1)[0]
