"""Acceptance (issue 9): in headless Chromium a researcher chooses four layers of small synthetic precomputed data
on the setup page, waits for the view, and opens it. Everything is real: gunicorn, a Celery worker, the
viewer-launcher's `process` back end under gunicorn, configurable-http-proxy (public port in front of the web
application, as the host proxy is in production), the cloudvolume and neuroglancer server programs and the
Neuroglancer client bundled with the Python package. The client must fetch every layer's `info` and chunks
through the proxy and draw the data (screenshot pixel check, kept in test-artifacts/). Stopping removes every
process and route; after the idle time the clean-up ends the session and the persistent link relaunches it."""

from __future__ import annotations

import datetime as dt
import re
import time

import numpy as np
import pytest
import requests

from tests.support import processes
from tests.support.browser_fixtures import log_in
from tests.support.launcher import auth, product_behind_proxy, server_processes, viewer_settings_for
from tests.support.layers import image_volume, write_image_layer
from tests.support.waiting import wait_for

from .conftest import OWNER, SETUP

pytestmark = pytest.mark.browser
PASSWORD = "viewer browser password"


@pytest.fixture
def stack(app, settings, settings_overrides, launcher_service, chp, monkeypatch, tmp_path):
    """The session's configurable-http-proxy in front of gunicorn, and a Celery worker, all pointed at the real
    launcher."""
    viewer = viewer_settings_for(launcher_service, chp)
    for key, value in viewer.items():
        monkeypatch.setattr(settings, key, value)  # the in-process app (clean-up below) sees the same
    env = processes.env_for({**settings_overrides, **viewer})
    with product_behind_proxy(chp, env, tmp_path, worker="viewer-browser"):
        yield chp


def wait_status(page_, base: str, session_id: str, wanted: str, timeout: float = 90) -> dict:
    """The session's status once it is `wanted`; a failed session fails the test at once."""
    last: list[dict] = []

    def reached() -> dict | None:
        state = page_.request.get(f"{base}/viewer/session/{session_id}/status").json()
        assert state["status"] not in ("failed",) or wanted == "failed", state
        last[:] = [state]
        return state if state["status"] == wanted else None

    return wait_for(reached, timeout, f"session {session_id} to be {wanted}", detail=lambda: last, interval=0.5)


def bright_fraction(image, box) -> float:
    """Share of white-ish (data) pixels: every channel above 200, so Neuroglancer's yellow bounding box and
    the red/green crosshair lines never count as data."""
    rgb = np.asarray(image.crop(box).convert("RGB"))
    return float((rgb.min(axis=-1) > 200).mean()) if rgb.size else 0.0


def what_is_drawn(image) -> dict:
    """Bright (data) fractions of the three panels (two raw sheets side by side, the blended layer with the
    cells below) and the number of pixels inside red cell markers, told apart from the red one-pixel
    crosshair line by their height."""
    width, height = image.size
    top, mid = 60, 60 + (height - 60) // 2
    boxes = {"raw left": (0, top, width // 2, mid), "raw right": (width // 2, top, width, mid),
             "blended + cells": (0, mid, width, height)}  # fmt: skip
    panels = {name: bright_fraction(image, box) for name, box in boxes.items()}
    rgb = np.asarray(image.crop(boxes["blended + cells"]).convert("RGB")).astype(int)[30:, 40:]
    red = (rgb[..., 0] > 100) & (rgb[..., 0] > 2 * rgb[..., 1] + 30) & (rgb[..., 0] > 2 * rgb[..., 2] + 30)
    markers = int((red[2:-2] & red[:-4] & red[4:]).sum())
    whole = bright_fraction(image, (0, 0, width, height))
    ok = all(f > 0.01 for f in panels.values()) and whole < 0.5 and markers > 10
    return {"ok": ok, "panels": panels, "markers": markers, "whole": whole}


def screenshot_until_drawn(viewer, shot, timeout: float = 30) -> dict:
    """Drawing may trail the fetches on a slow software renderer: screenshot again until the data show (or
    the time is up) and return the last look."""
    from PIL import Image

    deadline = time.monotonic() + timeout
    while True:
        viewer.wait_for_timeout(1000)
        viewer.screenshot(path=str(shot))
        drawn = what_is_drawn(Image.open(shot))
        if drawn["ok"] or time.monotonic() > deadline:
            return drawn


def test_a_researcher_opens_four_layers_in_neuroglancer_through_the_proxy(
    app, world, stack, page, launcher_service, artifacts_dir
):

    from lightserv.auth import services

    with app.app_context():
        services.set_password(OWNER, PASSWORD, actor=None)
    layers = [world.layer("raw", "488", "left"), world.layer("raw", "488", "right"), world.layer("blended", "647"),
              world.layer("cells", "647")]  # fmt: skip
    # the right sheet and the blended layer are different pictures (another block, dimmer)
    write_image_layer(world.settings.data_root / layers[1]["layer_path"], image_volume(2500, (8, 56, 8, 48)))
    write_image_layer(world.settings.data_root / layers[2]["layer_path"], image_volume(2000, (64, 120, 40, 88)))
    base = stack.public_url
    log_in(page, base, OWNER, PASSWORD)

    page.goto(base + SETUP)
    page.get_by_label("Raw, left light sheet, channel 488").check()
    page.get_by_label("Raw, right light sheet, channel 488").check()
    page.get_by_label("Show 647 nm · blended full-resolution planes").check()
    page.get_by_label("Show 647 nm · detected cells").check()
    page.screenshot(path=str(artifacts_dir / "viewer-setup.png"), full_page=True)
    posted = time.monotonic()
    page.get_by_role("button", name="Open in Neuroglancer").click()
    page.wait_for_url(re.compile(r".*/viewer/session/[0-9a-f]{32}$"))
    session_id = page.url.rsplit("/", 1)[1]
    card = page.locator('[data-testid="session-card"]')
    card.get_by_test_id("session-status").filter(has_text="Ready").wait_for(timeout=90_000)
    ready_after = time.monotonic() - posted
    enter = card.get_by_test_id("open-viewer").get_attribute("href")
    assert enter == f"/viewer/session/{session_id}/enter"  # sets the access cookie, then opens Neuroglancer
    link_url = card.get_by_test_id("persistent-link").inner_text()
    assert re.fullmatch(re.escape(base) + r"/viewer/links/[A-Za-z0-9]{10}", link_url)
    page.screenshot(path=str(artifacts_dir / "viewer-session-ready.png"), full_page=True)

    # the Neuroglancer client, served by the pinned package through the proxy, fetches every layer
    seen: list[tuple[int, str]] = []
    viewer = page.context.new_page()
    viewer.set_viewport_size({"width": 1280, "height": 900})
    viewer.on("response", lambda r: seen.append((r.status, r.url)))
    viewer.goto(base + enter)
    assert viewer.url.startswith(f"{base}/nglancer/{session_id}/v/")
    names = ["raw_ch488_left", "raw_ch488_right", "blended_ch647", "cells_ch647"]
    chunk = {n: re.compile(rf"/cv/{session_id}/{n}/(5000_5000_10000|10000_10000_10000)/\d") for n in names[:3]}
    chunk["cells_ch647"] = re.compile(rf"/cv/{session_id}/cells_ch647/spatial0/")
    deadline = time.monotonic() + 60
    while True:
        ok = [(s, u) for s, u in seen if s == 200]
        missing = [n for n in names if not any(u.endswith(f"/cv/{session_id}/{n}/info") for _, u in ok)]
        missing += [f"{n} chunk" for n in names if not any(chunk[n].search(u) for _, u in ok)]
        if not missing:
            break
        assert time.monotonic() < deadline, f"not fetched through the proxy: {missing}; seen {seen[-20:]}"
        viewer.wait_for_timeout(250)
    assert all(u.startswith(base) for _, u in seen), "every request goes through the public proxy address"
    shot = artifacts_dir / "viewer-neuroglancer.png"
    drawn = screenshot_until_drawn(viewer, shot)
    assert all(f > 0.01 for f in drawn["panels"].values()), f"data not drawn in every panel: {drawn}"
    assert drawn["whole"] < 0.5, "not a blank white page"
    assert drawn["markers"] > 10, f"the cells are not drawn: {drawn}"
    viewer.close()

    # Stop: every process and route of the session goes
    page.get_by_test_id("stop-session").click()
    wait_status(page, base, session_id, "stopped", timeout=60)
    assert server_processes(launcher_service.state_dir) == []
    assert [p for p in stack.client().routes() if session_id in p] == []
    assert requests.get(launcher_service.url + "/v1/sessions", headers=auth(), timeout=10).json() == {"sessions": []}

    # the persistent link relaunches (its page starts nothing until asked); after the idle time the clean-up
    # ends it; the link relaunches again
    page.goto(link_url)
    page.get_by_test_id("start-viewer").click()
    page.wait_for_url(re.compile(r".*/viewer/session/[0-9a-f]{32}$"))
    second = page.url.rsplit("/", 1)[1]
    assert second != session_id
    wait_status(page, base, second, "ready")
    from lightserv.common.audit import utcnow
    from lightserv.viewer.cleanup import cleanup

    with app.app_context():
        later = utcnow() + dt.timedelta(seconds=world.settings.idle_seconds + 60)
        report = cleanup(later)
    assert report.expired == [second] and report.problems == []
    assert wait_status(page, base, second, "expired")["url"] == ""
    assert server_processes(launcher_service.state_dir) == []
    assert [p for p in stack.client().routes() if p.startswith(("/nglancer/", "/cv/"))] == []
    page.goto(link_url)
    page.get_by_test_id("start-viewer").click()
    page.wait_for_url(re.compile(r".*/viewer/session/[0-9a-f]{32}$"))
    third = page.url.rsplit("/", 1)[1]
    state = wait_status(page, base, third, "ready")
    viewer = page.context.new_page()
    assert viewer.goto(base + state["url"]).status == 200
    viewer.close()
    stranger = page.context.browser.new_context()  # no portal login, no access cookie
    with app.app_context():
        from lightserv.extensions import db
        from lightserv.models import ViewerSession

        token = db.session.get(ViewerSession, third).ng_token
    assert stranger.request.get(f"{base}/nglancer/{third}/v/{token}/").status == 401
    assert stranger.request.get(f"{base}/cv/{third}/blended_ch647/info").status == 401
    stranger.close()
    page.get_by_test_id("stop-session").click()
    wait_status(page, base, third, "stopped", timeout=60)
    assert server_processes(launcher_service.state_dir) == []
    print(f"setup POST to a ready link with 4 layers: {ready_after:.1f} s")


def coloured_fraction(image, box) -> float:
    """Share of clearly coloured pixels (the atlas regions' colours), neither grey data nor the yellow box."""
    rgb = np.asarray(image.crop(box).convert("RGB")).astype(int)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 80)
    return float(((spread > 40) & ~yellow).mean()) if rgb.size else 0.0


def test_the_default_views_show_each_purpose_under_readable_names_with_region_names_and_a_way_back(
    app, world, stack, page, artifacts_dir
):
    """A registration (488 nm) and cell-detection (647 nm) request opened as the setup page suggests: two views,
    the registered channel under the atlas, whose regions are named on hover, and the cell channel with its
    cells; Neuroglancer names the layers by wavelength and purpose; the session page leads back to the request."""
    from PIL import Image

    from lightserv.auth import services

    with app.app_context():
        services.set_password(OWNER, PASSWORD, actor=None)
    registered = world.layer("registered", "488", role="regch")
    atlas_voxel = (25000.0, 25000.0, 25000.0)  # the synthetic atlas: 40 x 32 x 8 voxels, two regions side by side
    brain = np.zeros((8, 32, 40), dtype=np.uint16)
    brain[:, 6:26, 6:34] = 1200  # a dim brain: its own percentiles make it white
    write_image_layer(world.settings.data_root / registered["layer_path"], brain, voxel_nm=atlas_voxel, scales=1)
    world.layer("blended", "647")
    world.layer("cells", "647")
    base = stack.public_url
    log_in(page, base, OWNER, PASSWORD)

    page.goto(base + SETUP)
    assert page.get_by_label("Overlay atlas on 488 nm · registered volume").is_checked()
    assert page.get_by_label("Show 647 nm · blended full-resolution planes").is_checked()
    assert page.get_by_label("Show 647 nm · detected cells").is_checked()
    assert page.get_by_role("link", name="Open the Allen atlas (2017) on its own").get_attribute("href") == (
        "/viewer/atlas/allen_2017"
    )
    page.get_by_role("button", name="Open in Neuroglancer").click()
    page.wait_for_url(re.compile(r".*/viewer/session/[0-9a-f]{32}\?with=[0-9a-f]{32}$"))
    cards = page.locator('[data-testid="session-card"]')
    titles = sorted(t.split("\n")[0].strip() for t in cards.locator("h2").all_inner_texts())
    assert [t.split(" Starting")[0].split(" Ready")[0] for t in titles] == [
        "brains / s1: 1.3x, dorsal, atlas", "brains / s1: 1.3x, dorsal, full resolution"
    ], titles  # fmt: skip
    back = page.get_by_role("link", name="Back to request brains")
    assert back.is_visible() and back.get_attribute("href") == "/requests/ana/brains"
    atlas_card = cards.filter(has=page.get_by_role("heading", name=re.compile("atlas")))
    atlas_card.get_by_test_id("session-status").filter(has_text="Ready").wait_for(timeout=90_000)
    page.screenshot(path=str(artifacts_dir / "viewer-default-views.png"), full_page=True)

    viewer = page.context.new_page()
    viewer.set_viewport_size({"width": 1280, "height": 900})
    seen: list[str] = []
    viewer.on("response", lambda r: seen.append(r.url) if r.status == 200 else None)
    viewer.goto(base + atlas_card.get_by_test_id("open-viewer").get_attribute("href"))
    names = viewer.locator(".neuroglancer-layer-item-label")
    names.first.wait_for(timeout=30_000)
    assert names.all_inner_texts() == ["488 nm · registration", "Allen atlas (2017)"]
    deadline = time.monotonic() + 60
    while not any(u.endswith("/atlas_allen_2017/segment_properties/info") for u in seen):
        assert time.monotonic() < deadline, f"the region names were not fetched: {seen[-20:]}"
        viewer.wait_for_timeout(250)
    shot = artifacts_dir / "viewer-neuroglancer-atlas.png"
    panel = viewer.locator(".neuroglancer-rendered-data-panel").first.bounding_box()
    box = (int(panel["x"]), int(panel["y"]), int(panel["x"] + panel["width"]), int(panel["y"] + panel["height"]))
    deadline = time.monotonic() + 30
    while True:  # the brain (grey, white under the overlay) and the atlas's coloured regions over it
        viewer.wait_for_timeout(1000)
        viewer.screenshot(path=str(shot))
        image = Image.open(shot)
        drawn = {"coloured": coloured_fraction(image, box), "bright": bright_fraction(image, box)}
        if (drawn["coloured"] > 0.05 and drawn["bright"] > 0.01) or time.monotonic() > deadline:
            break
    assert drawn["coloured"] > 0.05, f"the atlas is not drawn over the data: {drawn} ({shot})"
    # hovering a region names it (the atlas's segment properties)
    middle_x, middle_y = panel["x"] + panel["width"] / 2, panel["y"] + panel["height"] / 2
    value = viewer.locator(".neuroglancer-layer-item-value").nth(1)
    for dx, region in ((-0.2, "Cerebrum"), (0.2, "Basic cell groups and regions")):
        viewer.mouse.move(middle_x + dx * panel["width"], middle_y)
        deadline = time.monotonic() + 15
        while region not in value.inner_text():
            assert time.monotonic() < deadline, f"hovering shows {value.inner_text()!r}, not {region!r}"
            viewer.wait_for_timeout(250)
    viewer.screenshot(path=str(artifacts_dir / "viewer-neuroglancer-atlas-hover.png"))
    viewer.close()

    full_card = cards.filter(has=page.get_by_role("heading", name=re.compile("full resolution")))
    full_card.get_by_test_id("session-status").filter(has_text="Ready").wait_for(timeout=90_000)
    viewer = page.context.new_page()
    viewer.set_viewport_size({"width": 1280, "height": 900})
    viewer.goto(base + full_card.get_by_test_id("open-viewer").get_attribute("href"))
    names = viewer.locator(".neuroglancer-layer-item-label")
    names.first.wait_for(timeout=30_000)
    assert names.all_inner_texts() == ["647 nm · cells", "Detected cells · 647 nm"]  # one panel: cells on the image
    viewer.wait_for_timeout(2000)
    viewer.screenshot(path=str(artifacts_dir / "viewer-neuroglancer-cells.png"))
    viewer.close()
