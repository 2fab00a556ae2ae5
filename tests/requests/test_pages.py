"""Static pages from markdown files."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lightserv.extensions import db
from lightserv.models import ViewerLink

PAGES = ["/faq", "/gallery", "/publications", "/pre-handoff"]


@pytest.mark.parametrize("url", PAGES)
def test_static_pages_need_login(client, url):
    resp = client.get(url)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_about_is_public_and_describes_the_facility(client):
    html = client.get("/about").get_data(as_text=True)
    assert "<h1" in html and "About the Test Light-Sheet Core" in html
    # the microscope table with resolutions, wavelengths, specimen sizes and typical uses
    table = html.split("<table>", 1)[1].split("</table>", 1)[0]
    for text in (
        "1.1x, 1.3x, 2x (zoom body), 4x",
        "3.6x, 15x",
        "488, 555, 647, 790",
        "488, 561, 642, 785",
        "about 1 × 1 cm",
        "2 × 2.5 × 1.2 cm standard",
        "3 × 5.5 × 1.2 cm extended",
        "whole-brain cell counting, viral tracing, fine processes",
        "injection and probe sites",
    ):
        assert text in table, text
    for text in (
        "Experimental protocols are possible after a discussion with the facility",
        "one species",
        "50 tubes",
        "registration to a reference atlas",
        "cell detection",
        "Follow the status",
        'href="mailto:core@test.example"',
        'href="https://idisco.info/"',
    ):
        assert text in html, text
    assert "{{" not in html


def test_the_faq_has_the_anchors_other_pages_link_to(client, login_as):
    login_as()
    html = client.get("/faq").get_data(as_text=True)
    for anchor in ("viewing", "stitching", "additional-imaging", "additional-processing", "request-structure"):
        assert re.search(rf'<h2 id="{anchor}">', html), anchor
        assert f'href="#{anchor}"' in html
    assert "needed for rat samples at any resolution and for mouse samples above 1.3x" in html
    assert "imaging request 1" in html and "<pre><code>" in html  # the diagram


def test_the_pre_handoff_page_gives_the_instructions(client, login_as):
    login_as()
    html = " ".join(client.get("/pre-handoff").get_data(as_text=True).split())
    for text in (
        "at least 2 business days",
        "heparin (20 U/ml)",
        "cerebellum and the brainstem",
        "4% PFA at room temperature",
        "no more than 24 h",
        "3 × 30 min in PBS",
        "labelled tube",
        "drop-off location",
        "no more than 3 days in PBS",
    ):
        assert text in html, text


def test_the_publications_page_comes_from_its_markdown_file(client, login_as):
    login_as()
    html = client.get("/publications").get_data(as_text=True)
    assert "<h1" in html and "Publications" in html and "Patents" in html
    assert "No publications are listed yet." in html
    assert "Facility admins" not in re.sub(r"<!--.*?-->", "", html, flags=re.S)  # the editing hint stays hidden


def test_an_edited_content_file_shows_without_a_restart(client, login_as, monkeypatch, tmp_path):
    from lightserv.requests import content

    (tmp_path / "publications.md").write_text("# Publications\n\n- Doe J. *A paper* (2031) at {{ facility_name }}.\n")
    monkeypatch.setattr(content, "CONTENT_DIR", tmp_path)
    login_as()
    html = client.get("/publications").get_data(as_text=True)
    assert "<li>Doe J. <em>A paper</em> (2031) at Test Light-Sheet Core.</li>" in html


def test_an_empty_gallery_says_so(client, login_as):
    login_as()
    html = client.get("/gallery").get_data(as_text=True)
    assert 'data-testid="gallery-empty"' in html and "gallery-card" not in html


def test_the_gallery_shows_cards_of_gallery_links_only(app, client, login_as):
    spec = {
        "version": 1,
        "request": {"username": "ana", "request_name": "brains"},
        "group": {
            "sample_name": "s1",
            "imaging_request_number": 1,
            "processing_request_number": 1,
            "image_resolution": "1.3x",
            "ventral_up": False,
            "space": "atlas",
        },
        "layers": [{"product": "registered", "channel": "488", "lightsheet": "none", "atlas_overlay": True}],
        "atlas_name": "allen_2017",
    }
    with app.app_context():
        now = dt.datetime(2030, 1, 1)
        db.session.add_all(
            [
                ViewerLink(
                    id="gal0000001",
                    created_by="adele",
                    created_at=now,
                    title="Whole brain c-Fos",
                    spec=spec,
                    is_gallery=True,
                    gallery_description="Cells detected in a whole mouse brain.",
                ),
                ViewerLink(id="pri0000001", created_by="ana", created_at=now, title="Private view", spec=spec),
                ViewerLink(
                    id="rev0000001",
                    created_by="adele",
                    created_at=now,
                    title="Revoked view",
                    spec=spec,
                    is_gallery=True,
                    revoked_at=now,
                    revoked_by="adele",
                ),
            ]
        )
        db.session.commit()
    login_as()
    html = client.get("/gallery").get_data(as_text=True)
    assert html.count('data-testid="gallery-card"') == 1
    card = html.split('data-testid="gallery-card"', 1)[1]
    assert "Whole brain c-Fos" in card and "Cells detected in a whole mouse brain." in card
    assert "1.3x · registered 488 nm · registered to the Allen atlas (2017)" in card
    assert 'href="/viewer/links/gal0000001"' in card and ">Open<" in card
    assert "Private view" not in html and "Revoked view" not in html


def test_an_unknown_placeholder_in_a_content_file_is_an_error(tmp_path, monkeypatch):
    from lightserv.requests import content

    (tmp_path / "x.md").write_text("Hello {{ secret_key }}")
    monkeypatch.setattr(content, "CONTENT_DIR", tmp_path)
    with pytest.raises(content.UnknownPlaceholder):
        content.render_page("x", {"facility_name": "F"})
