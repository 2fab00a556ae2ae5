"""Each role's home page in Chromium: signing in lands on it, it fits the screen at 1280, 1440 and 390 px
without sideways scrolling, its main section starts on the first screen, and axe-core finds nothing serious.
Screenshots go to test-artifacts/home-<role>-<width>.png (the world: tests/home/world.py)."""

from __future__ import annotations

import re

import pytest

from tests.home import world as facility
from tests.support.browser_fixtures import log_in

pytestmark = pytest.mark.browser

WIDTHS = (1280, 1440, 390)
SHOT_WIDTHS = (1440, 390)
#: role -> (username, the section that must be on the page, a text of it)
ROLES = {
    "researcher": ("ana", "ready-data", "View data"),
    "auditor": ("aud", "shared-with-you", "Read-only access"),
    "clearing": ("cleo", "team-clearing", "Overdue"),
    "imaging": ("ian", "team-imaging", "Continue imaging"),
    "processing": ("pat", "team-processing", "Needs attention"),
    "admin": ("boss", "home-admin", "1 live session"),
}


def test_every_role_lands_on_a_home_page_that_fits_the_screen(app, live_server, page, make_user, artifacts_dir):
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python not installed")
    facility.build(app, make_user)
    for role, (username, section, words) in ROLES.items():
        log_in(page, live_server, username, facility.PASSWORD, fresh=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(100)
            scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert scroll <= inner, f"{role} at {width} px scrolls sideways ({scroll} > {inner})"
            part = page.get_by_test_id(section)
            assert words in part.inner_text(), f"{role} at {width} px: {words!r} not in {section}"
            box = part.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{role} at {width} px: {box}"
            assert box["y"] < 900, f"{role} at {width} px: {section} starts below the first screen ({box})"
            if width in SHOT_WIDTHS:
                page.screenshot(path=str(artifacts_dir / f"home-{role}-{width}.png"), full_page=True)
        violations = axe.Axe().run(page).response["violations"]
        serious = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in violations
                   if v["impact"] in ("serious", "critical")]  # fmt: skip
        assert not serious, f"{role}: {serious}"
        shown = page.inner_text("main")
        assert not re.search(r"\b[a-z]+\.[a-z_]+\b|_ch\d+", shown), f"{role}: an internal code is shown"
