"""Setup pages, links and session rows as a researcher meets them. The launch task is
queued, not run, here (test_sessions.py runs it against the real launcher and proxy)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import csrf_from
from tests.support.auth import sign_in

from .conftest import OWNER, RAW_SETUP, REQUEST, SETUP, _now


def rows(app, model):
    from lightserv.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(model)))


@pytest.fixture
def owner(client, world):
    sign_in(client, OWNER)
    return OWNER


def post(client, url, data):
    token = csrf_from(client.get("/about").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def value(layer: dict) -> str:
    return "|".join([layer["image_resolution"], str(int(layer["ventral_up"])), layer["product"],
                     layer["channel_name"], layer["lightsheet"]])  # fmt: skip


def test_the_raw_setup_lists_every_sheet_with_its_state(app, client, world, owner):
    left = world.layer("raw", "488", "left")
    world.layer("raw", "488", "right", status="converting")
    world.layer("raw", "647", "left", status="failed")
    world.channel("647", right_lightsheet_used=0)
    html = client.get(RAW_SETUP).get_data(as_text=True)
    assert 'data-testid="raw-1.3x-0"' in html
    assert f'value="{value(left)}"' in html and 'aria-label="Left light sheet, channel 488, 1.3x"' in html
    assert 'data-testid="state-layer-raw_ch488_right">converting' in html
    assert 'data-testid="state-layer-raw_ch647_left">failed' in html
    assert re.search(r"Right light sheet, channel 647, 1.3x \(N/A\)", html)


def test_the_raw_setup_waits_for_imaging_and_ready_layers_and_explains_tiled_data(app, client, world, owner):
    world.layer("raw", "488", "left", status="converting")
    resp = client.get(RAW_SETUP, follow_redirects=True)
    assert resp.request.path == f"/requests/{OWNER}/{REQUEST}"
    assert "Raw data of this sample is not ready to view yet." in resp.get_data(as_text=True)
    world.layer("raw", "488", "left")
    world.imaging(imaging_progress="pending")
    assert "not ready to view yet" in client.get(RAW_SETUP, follow_redirects=True).get_data(as_text=True)
    world.imaging(imaging_progress="complete")
    assert client.get(RAW_SETUP).status_code == 200
    for ch in ("488", "647"):
        world.channel(ch, tiling_scheme="2x2")
    html = client.get(RAW_SETUP, follow_redirects=True).get_data(as_text=True)
    assert "Raw-data views are made only for single-tile LaVision acquisitions" in html
    assert client.get(RAW_SETUP.replace("/1", "/7")).status_code == 404


def test_a_raw_setup_post_needs_a_sheet_and_then_makes_a_link_and_a_starting_session(app, client, world, owner):
    from lightserv.models import EventLog, ViewerLink, ViewerSession

    left = world.layer("raw", "488", "left")
    world.layer("raw", "488", "right")
    resp = post(client, RAW_SETUP, {})
    assert resp.status_code == 400
    assert "Choose at least one light sheet to display." in resp.get_data(as_text=True)
    assert rows(app, ViewerLink) == []
    resp = post(client, RAW_SETUP, {"layer": [value(left)]})
    assert resp.status_code == 303
    (link,) = rows(app, ViewerLink)
    (session,) = rows(app, ViewerSession)
    assert resp.headers["Location"] == f"/viewer/session/{session.id}"
    assert link.spec == {
        "version": 1,
        "request": {"username": OWNER, "request_name": REQUEST},
        "group": {"sample_name": "s1", "imaging_request_number": 1, "processing_request_number": 0,
                  "image_resolution": "1.3x", "ventral_up": False, "space": "full"},
        "layers": [{"product": "raw", "channel": "488", "lightsheet": "left", "atlas_overlay": False}],
    }  # fmt: skip
    assert link.title == "brains / s1: 1.3x, dorsal, full resolution" and link.created_by == OWNER
    assert session.status == "starting" and session.owner == OWNER and session.variant == "general"
    assert re.fullmatch(r"[0-9a-f]{32}", session.id) and re.fullmatch(r"[0-9a-f]{32}", session.ng_token)
    assert "/" not in str(link.spec["layers"]) and session.id not in str(link.spec)  # no paths, no session ids
    assert [e.action for e in rows(app, EventLog) if e.action.startswith("viewer.")] == ["viewer.link_created"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "brains / s1: 1.3x, dorsal, full resolution" in page and "Starting" in page
    assert f"https://lightserv.test.example/viewer/links/{link.id}" in page
    assert "raw_ch488_left" in page and "/viz/raw/resolution_1.3x/ch488_left_lightsheet" in page
    status = client.get(f"/viewer/session/{session.id}/status").get_json()
    assert status == {"status": "starting", "url": "", "message": ""}


def test_the_general_setup_shows_tables_only_for_products_with_ready_layers(app, client, world, owner):
    world.layer("blended", "488")
    world.layer("blended", "647", status="converting")
    world.layer("downsized", "488", status="converting")
    world.layer("registered", "488", role="regch")
    world.layer("cells", "647")
    html = client.get(SETUP).get_data(as_text=True)
    assert 'data-testid="table-blended-1.3x-0"' in html and 'data-testid="table-registered-1.3x-0"' in html
    assert 'data-testid="table-cells-1.3x-0"' in html
    assert "table-downsized" not in html and "table-raw" not in html  # nothing ready there
    assert 'data-testid="state-layer-blended_ch647">converting' in html
    assert "Overlay atlas?" in html and "Processing progress" in html


def test_general_setup_rules_are_enforced_by_the_server(app, client, world, owner, settings, monkeypatch):
    from lightserv.models import ViewerLink

    blended = world.layer("blended", "488")
    registered = world.layer("registered", "488", role="regch")
    cells = world.layer("cells", "647")
    cases = [
        ({}, "Choose at least one layer to display."),
        ({"layer": [value(blended)], "overlay": [value(registered)]}, "The atlas overlay needs the registered layer."),
        ({"layer": ["1.3x|0|blended|555|none"]}, "The layer 1.3x|0|blended|555|none is no longer available."),
    ]
    for data, message in cases:
        resp = post(client, SETUP, data)
        assert resp.status_code == 400 and message in resp.get_data(as_text=True), message
    assert client.get(SETUP).status_code == 200
    world.set_status(cells, "failed")  # it failed after the page was shown
    resp = post(client, SETUP, {"layer": [value(blended), value(cells)]})
    assert resp.status_code == 400
    assert "The layer 647 nm · detected cells is no longer available." in resp.get_data(as_text=True)
    monkeypatch.setattr(settings, "viewer_max_layers", 1)
    resp = post(client, SETUP, {"layer": [value(registered)], "overlay": [value(registered)]})
    assert resp.status_code == 400 and "Choose at most 1 layers per view." in resp.get_data(as_text=True)
    assert 'checked' in resp.get_data(as_text=True)  # the choices come back
    assert rows(app, ViewerLink) == []


def test_a_general_setup_post_opens_one_view_per_coordinate_space(app, client, world, owner):
    from lightserv.models import ViewerLink, ViewerSession

    blended = world.layer("blended", "488")
    registered = world.layer("registered", "488", role="regch")
    world.layer("raw", "488", "left")
    resp = post(client, SETUP, {"layer": [value(blended), value(registered)], "overlay": [value(registered)]})
    assert resp.status_code == 303
    links = {link.spec["group"]["space"]: link for link in rows(app, ViewerLink)}
    assert set(links) == {"full", "atlas"}
    assert links["atlas"].spec["atlas_name"] == "allen_2017"
    assert links["atlas"].spec["layers"] == [
        {"product": "registered", "channel": "488", "lightsheet": "none", "atlas_overlay": True}
    ]
    sessions = {s.link_id: s for s in rows(app, ViewerSession)}
    assert sessions[links["atlas"].id].variant == "registration" and sessions[links["full"].id].variant == "general"
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert page.count('data-testid="session-card"') == 2
    assert "1.3x, dorsal, atlas" in page and "atlas_allen_2017" in page


def test_a_users_oldest_session_makes_room_and_a_full_site_says_it_is_busy(
    app, client, world, owner, settings, monkeypatch
):
    from lightserv.models import ViewerSession

    left = world.layer("raw", "488", "left")
    monkeypatch.setattr(settings, "viewer_max_sessions_per_user", 1)
    post(client, RAW_SETUP, {"layer": [value(left)]})
    (first,) = rows(app, ViewerSession)
    post(client, RAW_SETUP, {"layer": [value(left)]})
    by_id = {s.id: s for s in rows(app, ViewerSession)}
    assert by_id[first.id].status == "stopping" and len(by_id) == 2
    monkeypatch.setattr(settings, "viewer_max_sessions", 1)
    monkeypatch.setattr(settings, "viewer_max_sessions_per_user", 5)
    resp = post(client, RAW_SETUP, {"layer": [value(left)]})
    assert resp.status_code == 503
    assert "The viewer is busy; please try again in a few minutes." in resp.get_data(as_text=True)


def test_a_link_reuses_its_live_session_relaunches_after_it_ended_and_refuses_when_revoked(
    app, client, world, owner
):
    from lightserv.extensions import db
    from lightserv.models import ViewerLink, ViewerSession

    left = world.layer("raw", "488", "left")
    right = world.layer("raw", "488", "right")
    post(client, RAW_SETUP, {"layer": [value(left), value(right)]})
    (link,) = rows(app, ViewerLink)
    (first,) = rows(app, ViewerSession)
    resp = client.get(f"/viewer/links/{link.id}")
    assert resp.status_code == 200  # its page starts nothing
    assert "<li>488 nm · raw planes, left sheet</li>" in resp.get_data(as_text=True)  # what it shows, in words
    assert len(rows(app, ViewerSession)) == 1
    resp = post(client, f"/viewer/links/{link.id}/open", {})
    assert resp.status_code == 303 and resp.headers["Location"] == f"/viewer/session/{first.id}"
    with app.app_context():
        db.session.get(ViewerSession, first.id).status = "expired"
        db.session.commit()
    world.set_status(right, "failed")
    resp = post(client, f"/viewer/links/{link.id}/open", {})
    resp = client.get(resp.headers["Location"])
    page = resp.get_data(as_text=True)
    assert "The layer 488 nm · raw planes, right sheet is no longer available and was left out." in page
    assert len(rows(app, ViewerSession)) == 2
    with app.app_context():
        stored = db.session.get(ViewerLink, link.id)
        assert stored.open_count == 2 and stored.last_opened_at is not None
    world.set_status(left, "failed")
    with app.app_context():
        for s in db.session.scalars(select(ViewerSession)):
            s.status = "expired"
        db.session.commit()
    for resp in (client.get(f"/viewer/links/{link.id}"), post(client, f"/viewer/links/{link.id}/open", {})):
        assert resp.status_code == 410 and "This view is no longer available." in resp.get_data(as_text=True)
    assert post(client, f"/viewer/links/{link.id}/revoke", {}).status_code == 303
    for resp in (client.get(f"/viewer/links/{link.id}"), post(client, f"/viewer/links/{link.id}/open", {})):
        assert resp.status_code == 410 and "This link was revoked." in resp.get_data(as_text=True)


def test_links_are_renamed_and_revoked_only_by_their_creator_the_owner_and_admins(
    app, client, world, owner, make_user
):
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.models import ViewerLink

    left = world.layer("raw", "488", "left")
    make_user("colla")
    with app.app_context():
        get_schemas().lightsheet.Request.Access.insert1(
            {"username": OWNER, "request_name": REQUEST, "grantee": "colla", "access_level": "collaborator",
             "granted_by": OWNER, "granted_at": _now()}
        )
    post(client, RAW_SETUP, {"layer": [value(left)]})
    (link,) = rows(app, ViewerLink)
    sign_in(client, "colla")
    assert post(client, f"/viewer/links/{link.id}/open", {}).status_code == 303  # may open
    assert post(client, f"/viewer/links/{link.id}/edit", {"title": "Mine now"}).status_code == 403
    sign_in(client, OWNER)
    assert post(client, f"/viewer/links/{link.id}/edit", {"title": "  Left   sheet  "}).status_code == 303
    with app.app_context():
        assert db.session.get(ViewerLink, link.id).title == "Left sheet"


def test_the_admin_page_lists_sessions_without_changing_anything(app, client, world, owner, make_user):
    from lightserv.models import ViewerSession

    left = world.layer("raw", "488", "left")
    post(client, RAW_SETUP, {"layer": [value(left)]})
    before = [(s.id, s.status, s.last_activity_at) for s in rows(app, ViewerSession)]
    admin = make_user("boss", roles=["facility_admin"])
    sign_in(client, admin)
    html = client.get("/viewer/admin/sessions").get_data(as_text=True)
    assert before[0][0][:8] in html and "brains / s1: 1.3x, dorsal, full resolution" in html
    assert "The launcher could not be asked" in html  # none configured in this test
    assert [(s.id, s.status, s.last_activity_at) for s in rows(app, ViewerSession)] == before


def test_saved_views_are_listed_on_the_request_overview_with_their_actions(app, client, world, owner, make_user):
    from lightserv.models import ViewerLink

    left = world.layer("raw", "488", "left")
    post(client, RAW_SETUP, {"layer": [value(left)]})
    (link,) = rows(app, ViewerLink)
    html = client.get(f"/requests/{OWNER}/{REQUEST}").get_data(as_text=True)
    section = html.split('data-testid="saved-views"', 1)[1].split("</section>", 1)[0]
    assert "brains / s1: 1.3x, dorsal, full resolution" in section and "488 nm · raw planes, left sheet" in section
    assert f"/viewer/links/{link.id}" in section and "Rename" in section and "Revoke" in section
    staff = make_user("clara", roles=["clearing_staff"])
    sign_in(client, staff)
    section = client.get(f"/requests/{OWNER}/{REQUEST}").get_data(as_text=True).split('data-testid="saved-views"')[1]
    assert f"/viewer/links/{link.id}" in section.split("</section>")[0]
    assert "Revoke" not in section.split("</section>")[0]  # staff may open, not revoke


def ticked(html: str) -> set[str]:
    """The boxes the page opens with ticked: `layer` values, `overlay:<value>` for overlays."""
    found = set()
    for tag in re.findall(r"<input[^>]*>", html):
        if re.search(r"\schecked\b", tag) and 'type="checkbox"' in tag:
            name, box = re.search(r'name="(\w+)"', tag).group(1), re.search(r'value="([^"]+)"', tag).group(1)
            found.add(box if name == "layer" else f"{name}:{box}")
    return found


def test_the_general_setup_opens_one_view_per_purpose_by_default(app, client, world, owner, settings, monkeypatch):
    """488 nm was imaged for registration, 647 nm for cell detection, 555 nm (added here) for nothing in
    particular: the page opens with the registered 488 nm layer and the atlas, the 647 nm image with its
    detected cells and the 555 nm image ticked; raw sheets, downsized and other registered layers stay unticked.
    Posted as it is, that makes two views whose layers Neuroglancer names by wavelength and purpose."""
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.models import ViewerLink, ViewerSession
    from lightserv.viewer.launch import session_body

    with app.app_context():
        channels = get_schemas().lightsheet.Request.ImagingChannel
        row = (channels & {"username": OWNER, "channel_name": "647"}).to_dicts()[0]
        channels.insert1({**row, "channel_name": "555", "cell_detection": 0, "generic_imaging": 1})
    layers = {(p, ch): world.layer(p, ch) for p in ("blended", "downsized") for ch in ("488", "555", "647")}
    for sheet in ("left", "right"):
        world.layer("raw", "488", sheet)
    registered = world.layer("registered", "488", role="regch")
    world.layer("registered", "647", role="cellch")
    cells = world.layer("cells", "647")
    world.layer("cells_registered", "647")
    html = client.get(SETUP).get_data(as_text=True)
    for words in ("488 nm · registered volume", "647 nm · blended full-resolution planes", "647 nm · detected cells",
                  "647 nm · detected cells in atlas space", "555 nm · downsized volume"):  # fmt: skip
        assert f"<td>{words}</td>" in html, words  # the Layer column in words, not the layer keys
    assert 'aria-label="Overlay atlas on 488 nm · registered volume"' in html
    assert ticked(html) == {value(registered), f"overlay:{value(registered)}", value(layers["blended", "647"]),
                            value(cells), value(layers["blended", "555"])}  # fmt: skip
    assert 'href="/viewer/atlas/allen_2017"' in html and "Open the Allen atlas (2017) on its own" in html

    resp = post(client, SETUP, {"layer": [v for v in ticked(html) if ":" not in v],
                                "overlay": [v.split(":", 1)[1] for v in ticked(html) if ":" in v]})  # fmt: skip
    assert resp.status_code == 303
    links = {link.spec["group"]["space"]: link for link in rows(app, ViewerLink)}
    assert set(links) == {"atlas", "full"}  # two views: registration, and the cells with the other channel
    assert links["atlas"].spec["layers"] == [
        {"product": "registered", "channel": "488", "lightsheet": "none", "atlas_overlay": True}
    ]
    assert sorted((c["product"], c["channel"]) for c in links["full"].spec["layers"]) == [
        ("blended", "555"), ("blended", "647"), ("cells", "647")
    ]  # fmt: skip

    monkeypatch.setattr(settings, "viewer_proxy_api_url", "http://127.0.0.1:9")  # the body is built, not sent
    sessions = {s.link_id: s for s in rows(app, ViewerSession)}
    with app.app_context():
        bodies = {space: session_body(db.session.get(ViewerSession, sessions[link.id].id), link)[0]
                  for space, link in links.items()}  # fmt: skip
    atlas, full = bodies["atlas"], bodies["full"]
    assert [(x["name"], x["label"]) for x in atlas["layers"]] == [
        ("registered_ch488_regch", "488 nm · registration"), ("atlas_allen_2017", "Allen atlas (2017)")
    ]  # fmt: skip
    assert atlas["neuroglancer"]["layout"] == [[["registered_ch488_regch", "atlas_allen_2017"]]]
    assert {x["name"]: x["label"] for x in full["layers"]} == {
        "blended_ch555": "555 nm", "blended_ch647": "647 nm · cells", "cells_ch647": "Detected cells · 647 nm"
    }  # fmt: skip
    assert full["neuroglancer"]["layout"] == [[["blended_ch555"], ["blended_ch647", "cells_ch647"]]]
    assert full["neuroglancer"]["title"] == "brains / s1: 1.3x, dorsal, full resolution"
    # contrast from the data (the synthetic layers: background 0, a block of 3000); none for annotations
    assert {x["name"]: x.get("range") for x in full["layers"]} == {
        "blended_ch555": [0.0, 3000.0], "blended_ch647": [0.0, 3000.0], "cells_ch647": None
    }  # fmt: skip

    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f'href="/requests/{OWNER}/{REQUEST}"' in page and f"Back to request {REQUEST}" in page
    assert "488 nm · registration" in page and "Detected cells · 647 nm" in page
    assert ">488 nm · registered volume</td>" in page and ">Allen atlas (2017)</td>" in page  # the Layer column
    assert ">registered_ch488_regch</td>" not in page and ">atlas_allen_2017</td>" not in page


def test_a_view_whose_request_the_user_may_not_see_has_no_way_back_to_it(app, client, world, owner, make_user):
    """A gallery view opens for everyone; the way back is only shown to who may see the request."""
    from lightserv.extensions import db
    from lightserv.models import ViewerLink

    left = world.layer("raw", "488", "left")
    post(client, RAW_SETUP, {"layer": [value(left)]})
    (link,) = rows(app, ViewerLink)
    with app.app_context():
        db.session.get(ViewerLink, link.id).is_gallery = True
        db.session.commit()
    sign_in(client, make_user("visitor"))
    resp = post(client, f"/viewer/links/{link.id}/open", {})
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="session-card"' in page and "Back to request" not in page
