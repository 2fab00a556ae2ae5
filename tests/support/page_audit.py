"""Every page of the permission matrix as each subject sees it in Chromium: which pages a subject may open, a
browser context already logged in as that subject, whether a page scrolls sideways, what axe-core finds.

Used by tests/browser/test_page_fit.py and tests/browser/test_accessibility.py with the world of
tests/test_permissions.py's `matrix_world` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.matrix import all_rows, answer, matrix_url
from tests.support.browser_fixtures import watch_csp

ROUTES = all_rows()
# the pages people use most, also checked (and photographed) at phone width: endpoint -> file-name part
MAIN_PAGES = {
    "requests.request_list": "requests",
    "requests.overview": "overview",
    "requests.new_request": "new-request",
    "clearing.queue": "clearing-queue",
    "imaging.queue": "imaging-queue",
    "processing.queue": "processing-queue",
    "admin.dashboard_page": "dashboard",
    "viewer.setup": "viewer-setup",
}
DESKTOP_WIDTHS = (1280, 1440)
PHONE_WIDTH = 390
SERIOUS = ("serious", "critical")


def html_pages(client, world: dict, subject: str) -> Iterator[tuple[str, str]]:
    """(endpoint, url) of every GET route of the matrix that answers `subject` 200 with an HTML page (downloads,
    JSON and calendar files are no pages)."""
    for endpoint, (method, template, expected) in sorted(ROUTES.items()):
        if method != "GET" or expected.get(subject) != 200:
            continue
        url = matrix_url(template, world)
        response = answer(client, world, subject, method, url)
        if response.status_code == 200 and response.mimetype == "text/html":
            yield endpoint, url


def subject_context(browser, app, live_server: str, world: dict, subject: str, csp_violations: list[str]):
    """A browser context logged in as `subject` of `world` (anonymous: no login) through the session cookie that
    the login page would set."""
    context = browser.new_context(viewport={"width": DESKTOP_WIDTHS[0], "height": 900})
    watch_csp(context, csp_violations)
    if subject != "anonymous":
        cookie = app.session_interface.get_signing_serializer(app).dumps(world["logins"][subject])
        context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": cookie, "url": live_server}])
    return context


def open_page(page, url: str) -> str | None:
    """Go to `url`; a problem (not 200, or landed elsewhere) as words, None when the page is there."""
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        return f"{url}: answered {response.status if response else 'nothing'} in the browser"
    return None


def sideways(page, width: int) -> str | None:
    """At `width` px: how far the page scrolls sideways, as words, or None when it fits."""
    page.set_viewport_size({"width": width, "height": 900})
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll <= inner:
        return None
    culprits = page.evaluate(WIDEST_ELEMENTS, inner)
    return f"{page.url} at {width} px: the page is {scroll} px wide; too wide: {culprits}"


# the elements that stick out past the window's right edge unclipped (what makes the page scroll); an absolutely
# placed element escapes a scroll box that is not its containing block
WIDEST_ELEMENTS = """(inner) => {
  const clipped = (el) => {
    const position = getComputedStyle(el).position;
    let escapes = position === "absolute" || position === "fixed";
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (escapes && position === "absolute" && style.position !== "static") escapes = false;
      if (style.overflowX !== "visible" && !escapes) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right <= inner + 0.5 || clipped(el)) continue;
    const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/).join(".") : "";
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (classes ? "." + classes : "");
    out.push(name + " (to " + Math.round(r.right) + " px)");
    if (out.length >= 6) break;
  }
  return out.join(", ");
}"""


def axe_serious(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as shown: [{rule, impact, help, targets}]."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [" ".join(map(str, node["target"])) for node in v["nodes"]],
        }
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def shoot_and_audit(page, artifacts_dir, name: str, widths=(1440, 390)) -> None:
    """At each width: a full-page screenshot test-artifacts/<name>-<width>.png taken from the top of the page,
    then the page must not scroll sideways and axe must find nothing serious or critical."""
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("window.scrollTo(0, 0)")  # sticky panels stick to the top of what is shown
        page.wait_for_timeout(200)
        page.screenshot(path=str(artifacts_dir / f"{name}-{width}.png"), full_page=True)
        assert sideways(page, width) is None
        found = axe_serious(page)
        assert found == [], f"{name} at {width} px: {found}"
    page.set_viewport_size({"width": 1280, "height": 900})
