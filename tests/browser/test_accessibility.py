"""axe-core finds no serious or critical violation on any GET page of the permission matrix, for any subject that
may open it (at 1280 px), and the login and new-request forms can be filled in with
the keyboard alone. Each subject's findings are written to test-artifacts/axe/<subject>.json."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.matrix import SUBJECTS
from tests.support.page_audit import axe_serious, html_pages, open_page, subject_context
from tests.test_permissions import matrix_world  # noqa: F401  (the permission matrix's world, as a fixture)

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


@pytest.mark.parametrize("subject", SUBJECTS)
def test_axe_finds_no_serious_violation(app, client, live_server, browser, matrix_world, subject, artifacts_dir):  # noqa: F811
    pages = list(html_pages(client, matrix_world, subject))
    context = subject_context(browser, app, live_server, matrix_world, subject, [])
    page = context.new_page()
    found: dict[str, list[dict]] = {}
    try:
        for _endpoint, url in pages:
            problem = open_page(page, live_server + url)
            assert problem is None, problem
            found[url] = axe_serious(page)
    finally:
        context.close()
    (artifacts_dir / "axe").mkdir(exist_ok=True)
    (artifacts_dir / "axe" / f"{subject}.json").write_text(json.dumps(found, indent=1))
    by_rule = Counter(f"{v['rule']} ({v['impact']})" for violations in found.values() for v in violations)
    detail = [f"{where}: {v['rule']} ({v['impact']}) {v['help']}: {v['targets'][:4]}" for where, vs in found.items()
              for v in vs]  # fmt: skip
    assert not by_rule, f"{subject}: {dict(by_rule)} on {len(pages)} pages:\n" + "\n".join(detail)


FIELDS = "input:visible:not([type=hidden]), select:visible, textarea:visible"
NAME_OF_FOCUSED = (
    "() => { const el = document.activeElement; return el.labels && el.labels.length ? "
    "el.labels[0].innerText.trim() : (el.getAttribute('aria-label') || ''); }"
)


def tab_to(page, field, limit: int = 40) -> None:
    """Press Tab until `field` (a locator) has the focus; fails after `limit` presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if field.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reaches {field}")


def test_login_and_new_request_forms_work_with_the_keyboard(live_server, page, make_user):
    make_user("kai", password=PASSWORD)
    page.goto(live_server + "/login")
    tab_to(page, page.get_by_label("Username"))
    page.keyboard.type("kai")
    page.keyboard.press("Tab")
    assert page.evaluate(NAME_OF_FOCUSED).startswith("Password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(live_server + "/requests/new")
    fields = page.locator("#new-request-area").locator(FIELDS)
    assert fields.count() >= 3
    for i in range(3):
        field = fields.nth(i)
        tab_to(page, field, limit=40 if i == 0 else 6)
        assert page.evaluate(NAME_OF_FOCUSED), f"field {i + 1} of the new-request form has no label"
        if field.evaluate("el => el.tagName === 'TEXTAREA' || ['text', 'email', 'number', ''].includes(el.type)"):
            page.keyboard.type("7")
            assert field.input_value().endswith("7"), f"typing did not reach field {i + 1}"
