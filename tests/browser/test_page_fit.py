"""Every page fits its screen: each GET page of the permission matrix, opened in Chromium by every subject that
may see it, does not scroll sideways at 1280 and 1440 px; the main pages neither at 390 px (a wide table may
scroll inside its own box there). Screenshots of each subject's main pages at 1440 and 390 px go to
test-artifacts/screens/<subject>-<page>-<width>.png."""

from __future__ import annotations

import pytest

from tests.matrix import SUBJECTS
from tests.support.browser_fixtures import assert_no_csp_violations
from tests.support.page_audit import (
    DESKTOP_WIDTHS,
    MAIN_PAGES,
    PHONE_WIDTH,
    html_pages,
    open_page,
    sideways,
    subject_context,
)
from tests.test_permissions import matrix_world  # noqa: F401  (the permission matrix's world, as a fixture)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("subject", SUBJECTS)
def test_no_page_scrolls_sideways(app, client, live_server, browser, matrix_world, subject, artifacts_dir):  # noqa: F811
    screens = artifacts_dir / "screens"
    screens.mkdir(exist_ok=True)
    pages = list(html_pages(client, matrix_world, subject))
    assert pages, f"{subject} may open no page"
    csp: list[str] = []
    context = subject_context(browser, app, live_server, matrix_world, subject, csp)
    page = context.new_page()
    problems = []
    try:
        for endpoint, url in pages:
            problem = open_page(page, live_server + url)
            if problem:
                problems.append(problem)
                continue
            problems += filter(None, (sideways(page, width) for width in DESKTOP_WIDTHS))
            if endpoint in MAIN_PAGES:
                for width in (DESKTOP_WIDTHS[-1], PHONE_WIDTH):
                    problems += filter(None, [sideways(page, width)])
                    shot = screens / f"{subject}-{MAIN_PAGES[endpoint]}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True)
            page.set_viewport_size({"width": DESKTOP_WIDTHS[0], "height": 900})
    finally:
        context.close()
    assert not problems, f"{len(problems)} of {len(pages)} pages of {subject} do not fit:\n" + "\n".join(problems)
    assert_no_csp_violations(csp)
