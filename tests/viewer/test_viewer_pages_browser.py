"""The setup and sessions pages in Chromium at 1440 and 390 px: each layer named in words (the Layer column, the
box labels), no layer key in what a researcher reads, and no sideways scroll of the page (the layer table may
scroll in its own box on a phone). Screenshots: test-artifacts/screens/viewer-{setup,sessions}-<width>.png."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import live_server  # noqa: F401  (gunicorn serving the test databases, as a fixture)
from tests.support.browser_fixtures import log_in
from tests.support.page_audit import PHONE_WIDTH, sideways
from tests.test_plain_language import LAYER_KEY

from .conftest import OWNER, SETUP

pytestmark = pytest.mark.browser
PASSWORD = "viewer pages password"


def layer_keys_read(page) -> list[str]:
    """Layer keys in the page's text, folders (words holding a slash) left out."""
    words = " ".join(w for w in page.locator("body").inner_text().split() if "/" not in w)
    return LAYER_KEY.findall(words)


def test_the_setup_and_sessions_pages_name_layers_in_words_and_fit_a_phone(
    app, world, live_server, page, artifacts_dir  # noqa: F811
):
    from lightserv.auth import services

    with app.app_context():
        services.set_password(OWNER, PASSWORD, actor=None)
    for product, channel, role in (("blended", "488", ""), ("blended", "647", ""), ("downsized", "488", ""),
                                   ("registered", "488", "regch"), ("cells", "647", ""),
                                   ("cells_registered", "647", "")):  # fmt: skip
        world.layer(product, channel, role=role, build=False)
    screens = artifacts_dir / "screens"
    screens.mkdir(exist_ok=True)
    log_in(page, live_server, OWNER, PASSWORD)

    page.goto(live_server + SETUP)
    table = page.get_by_test_id("table-registered-1.3x-0")
    assert table.locator("tbody td").nth(1).inner_text() == "488 nm · registered volume"
    assert page.get_by_label("Overlay atlas on 488 nm · registered volume").is_checked()
    assert page.get_by_label("Show 647 nm · detected cells", exact=True).is_checked()
    assert layer_keys_read(page) == []
    for width in (1440, PHONE_WIDTH):
        assert sideways(page, width) is None, sideways(page, width)
        page.screenshot(path=str(screens / f"viewer-setup-{width}.png"), full_page=True)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Open in Neuroglancer").click()
    page.wait_for_url(re.compile(r".*/viewer/session/[0-9a-f]{32}(\?.*)?$"))
    layers = page.get_by_test_id("session-layers")
    words = {row.locator("td").first.inner_text() for row in layers.locator("tbody tr").all()}
    assert {"488 nm · registered volume", "Allen atlas (2017)", "647 nm · blended full-resolution planes",
            "647 nm · detected cells"} <= words  # fmt: skip
    assert layer_keys_read(page) == []
    for width in (1440, PHONE_WIDTH):
        assert sideways(page, width) is None, sideways(page, width)
        page.screenshot(path=str(screens / f"viewer-sessions-{width}.png"), full_page=True)
