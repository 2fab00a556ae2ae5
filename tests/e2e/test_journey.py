"""One request through the whole product, as its users do it (issue 11), in headless Chromium:

1. a researcher files a 2-sample request: a LaVision 1.3x sample (488 registration, 647 cell detection,
   atlas allen_2017) and a SmartSPIM 3.6x sample (488 and 642), each with its own clearing protocol;
2. a clearer claims, starts and completes both clearing batches;
3. the microscopes' raw data are written by lib.synth (a 2x2-tiled, two-sheet LaVision acquisition and a 2x2
   SmartSPIM acquisition, with the facility's flat-field files); an imager claims, starts and fills both
   imaging batches, submits each sample (validated by the Celery worker) and completes both batches;
4. SmartSPIM stitching starts on its own at submission; a processor starts the LaVision processing
   (setup, stitch, downsize, register, detect), and, once "Flat-field needed" arrives, places the flat-field
   files in the stitched folders and starts destriping; every stage and every conversion runs on the real
   one-node Slurm, submitted by the Celery worker and followed by Celery beat's poller;
5. the researcher receives every email at the SMTP sink, each with a link to a page (never a viewer
   session), opens every data product through the viewer links of the "Processing complete" emails
   (stitched per sheet, blended, detected cells; downsized; registered with the atlas overlay and the
   registered cells; SmartSPIM corrected), and the Neuroglancer client loads every layer's info and chunks
   through configurable-http-proxy and draws them (screenshot pixel check, kept in test-artifacts/e2e/);
6. the overview shows the request complete and the per-region cell counts.

Not covered: raw layers (they are made only for single-tile LaVision channels; the tiled sample's
raw setup page says so, checked below) and a separate SmartSPIM "stitched" layer (the product, as the spec,
makes only the corrected layer of stitched and destriped planes).

Done outside the browser, as the facility does it outside the product: the four accounts are created with the
services behind `flask create-user` / `grant-role`; the synthetic atlas (files, voxel size in its Atlas row,
prebuilt overlay) is installed by the `synthetic_atlas` fixture; the flat-field files are copied into the
stitched folders by the test. Every step of the request itself goes through the pages, the Celery worker,
Celery beat and Slurm: no service is called directly and no state of the request is set in the database.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from email.message import EmailMessage

import pytest
import requests

from lib.naming import rawdata_resolution_dir
from lightserv.layers.labels import PRODUCT_LABELS
from tests.support import browser_fixtures
from tests.support.browser_fixtures import assert_no_csp_violations, watch_csp
from tests.support.launcher import auth
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

PASSWORD = "journey test password"
REQUEST = "cfos_e2e"
OWNER = "rita"
S1, S2 = f"{REQUEST}-001", f"{REQUEST}-002"  # the form's default sample names
LINK = re.compile(r"https?://[^\s<>\"']+")
#: the layers each processed sample ends with, by view
S1_VIEWS = {
    "1.3x, dorsal, full resolution": {
        *(f"stitched_ch{c}_{s}" for c in ("488", "647") for s in ("left", "right")),
        "blended_ch488", "blended_ch647", "cells_ch647",
    },
    "1.3x, dorsal, downsized": {"downsized_ch488", "downsized_ch647"},
    "1.3x, dorsal, atlas": {"registered_ch488_regch", "registered_ch647_cellch", "cells_registered_ch647",
                            "atlas_allen_2017"},
}  # fmt: skip
S2_VIEWS = {"3.6x, dorsal, full resolution": {"corrected_ch488", "corrected_ch642"}}


# --- helpers -----------------------------------------------------------------------------------------


def email_line(layer_name: str) -> str:
    """How the "Processing complete" email lists a layer: "647 nm: detected cells", with the sheet if any."""
    product, _, rest = layer_name.partition("_ch")
    channel, *qualifiers = rest.split("_")
    sheet = f", {qualifiers[0]} sheet" if qualifiers and qualifiers[0] in ("left", "right") else ""
    return f"- {channel} nm: {PRODUCT_LABELS[product]}{sheet}"


class Mailbox:
    """What the SMTP sink received, by recipient and subject."""

    def __init__(self, smtp, stack):
        self.smtp, self.stack = smtp, stack

    def wait(self, to: str, subject: str, timeout: float = 120.0, count: int = 1) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while True:
            with self.smtp.lock:
                found = [m for rcpts, m in self.smtp.messages if to in rcpts and m["Subject"] == subject]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                with self.smtp.lock:
                    got = [(r, m["Subject"]) for r, m in self.smtp.messages]
                raise AssertionError(f"no email {subject!r} to {to} in {timeout:.0f} s; received {got}\n"
                                     f"{self.stack.logs()}")  # fmt: skip
            time.sleep(0.5)

    def links(self, message: EmailMessage) -> list[str]:
        """The links of an email: each on this site, none of them a viewer session."""
        body = message.get_body(("plain",)).get_content()
        links = [u.rstrip(".,)") for u in LINK.findall(body)]
        assert links, f"{message['Subject']!r} has no link:\n{body}"
        for url in links:
            assert url.startswith(self.stack.base + "/"), f"{url} is not on {self.stack.base}"
            assert "/nglancer/" not in url and "/viewer/session/" not in url, f"session URL in an email: {url}"
        return links


@pytest.fixture
def log_in(browser, stack, csp_violations):
    """log_in(username) -> a page of a fresh browser context (one person) logged in with the login form; the
    contexts are closed afterwards, and no page of the app may have reported a CSP violation."""
    contexts = []

    def person(username: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        watch_csp(context, csp_violations)
        contexts.append(context)
        page = context.new_page()
        browser_fixtures.log_in(page, stack.base, username, PASSWORD)
        return page

    yield person
    for context in contexts:
        context.close()
    assert_no_csp_violations(csp_violations)


def open_in_new_tab(page, link):
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    return tab


def shot(page, artifacts, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=full_page)


# --- the people ----------------------------------------------------------------------------------------


def researcher_files_the_request(page, artifacts) -> None:
    page.get_by_role("link", name="Start a new request").click()
    page.wait_for_url("**/requests/new")
    page.get_by_label("Request name").fill(REQUEST)
    page.get_by_label("Lab name(s), e.g. Smith/Jones").fill("Witten")
    page.get_by_label("What is the goal of this request?").fill("c-Fos counts, whole-brain overview")
    page.get_by_label("Number of samples (tubes)").fill("2")
    page.get_by_label("How important is it that raw data is kept").select_option("important")
    page.get_by_role("button", name="Set up samples").click()
    assert page.locator('[data-testid="sample-section"]').count() == 2

    first, second = page.locator("#sample-1"), page.locator("#sample-2")
    first.get_by_label("Clearing protocol").select_option("idisco_abbreviated")
    second.get_by_label("Clearing protocol").select_option("udisco")  # its own clearing batch
    handoff = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    for section in (first, second):
        section.get_by_label("Expected hand-off date").fill(handoff)
    first.get_by_label("Add a resolution").select_option("1.3x")
    first.get_by_role("button", name="Add resolution").click()
    lavision = page.locator("#sample-1-res-1\\.3x")
    assert lavision.get_by_label("Registration on 488 nm at 1.3x").is_checked()  # the mouse default
    lavision.get_by_label("Cell detection on 647 nm at 1.3x").check()
    assert lavision.get_by_label("Atlas for registration").input_value() == "allen_2017"
    page.locator("#sample-2").get_by_label("Add a resolution").select_option("3.6x")
    page.locator("#sample-2").get_by_role("button", name="Add resolution").click()
    smartspim = page.locator("#sample-2-res-3\\.6x")
    smartspim.get_by_label("Generic imaging on 488 nm at 3.6x").check()
    smartspim.get_by_label("Generic imaging on 642 nm at 3.6x").check()
    shot(page, artifacts, "01-new-request")
    page.get_by_role("button", name="Review request").click()
    page.get_by_role("heading", name="Check your request before submitting").wait_for()
    page.get_by_role("button", name="Submit request").click()
    page.get_by_text(f"Request submitted. A confirmation was sent to {OWNER}@test.example").wait_for()
    assert page.locator("tr", has_text=REQUEST).count() == 1


def clearer_clears_both_batches(page, artifacts) -> None:
    page.get_by_role("link", name="Clearing", exact=True).click()
    page.wait_for_url("**/clearing/queue")
    shot(page, artifacts, "02-clearing-queue")
    for number in (1, 2):
        page.reload()
        row = page.locator(f'tr[data-batch="{OWNER}/{REQUEST}/{number}"]').first
        form = open_in_new_tab(page, row.get_by_role("link", name="Open"))
        form.get_by_role("button", name="Claim").click()
        form.wait_for_load_state()
        assert form.get_by_text("You now hold this batch.").is_visible()
        form.get_by_role("button", name="Start clearing").click()
        form.wait_for_load_state()
        assert form.locator('[data-testid="progress"]').inner_text() == "Being cleared"
        for now in form.locator("[data-fill-now]").all():  # completing needs a time for every step
            now.click()
        form.get_by_role("button", name="Complete clearing").click()
        dialog = form.locator("#complete-dialog")
        form.locator("#complete-dialog.show").wait_for()
        dialog.get_by_role("button", name="Complete clearing").click()
        form.wait_for_url("**/clearing/queue")
        assert form.get_by_text(f"Clearing for batch {number} of {REQUEST} is complete.").is_visible()
        shot(form, artifacts, f"03-clearing-batch-{number}-complete")
        form.close()


def write_raw_data(settings, brain):
    """What the microscopes write: a 2x2-tiled two-sheet LaVision acquisition of the atlas's brain and a 2x2
    SmartSPIM acquisition (with its flat-field files), in the microscopes' naming conventions."""
    from lib.synth import make_brain, voxel_size_for, write_lavision, write_smartspim

    lavision = write_lavision(
        settings.data_root / rawdata_resolution_dir(OWNER, REQUEST, S1, 1, "1.3x") / "acq", brain, tiling=(2, 2),
        overlap=0.1, channels=("488", "647"), jitter_px=2, z_step_um=10.0,
    )  # fmt: skip
    spim_brain = make_brain((12, 72, 72), seed=5, voxel_size_um=voxel_size_for("3.6x", 10.0), n_cells=5)
    smartspim = write_smartspim(
        settings.data_root / rawdata_resolution_dir(OWNER, REQUEST, S2, 1, "3.6x"), spim_brain, tiling=(2, 2),
        channels=("488", "642"), subfolders={"488": "Ex_488", "642": "Ex_642"},
    )  # fmt: skip
    return lavision, smartspim


def imager_images_a_batch(page, artifacts, number: int, sample: str, channels, subfolders, planes: int) -> None:
    page.get_by_role("link", name="Imaging", exact=True).click()
    page.wait_for_url("**/imaging/queue")
    row = page.locator(f'#table-ready tr[data-batch="{OWNER}/{REQUEST}/{number}/1/1"]')
    form = open_in_new_tab(page, row.get_by_role("link", name="Open"))
    form.get_by_role("button", name="Claim").click()
    form.wait_for_load_state()
    assert form.get_by_text("You now image this batch.").is_visible()
    form.get_by_role("button", name="Start imaging").click()
    form.wait_for_load_state()
    batch = form.locator("#batch-parameters")
    for w in channels:
        # the synthetic microscopes acquire horizontally; the form starts at the researcher's output orientation
        batch.get_by_label(f"Channel {w}: image orientation").select_option("horizontal")
        batch.get_by_label(f"Channel {w}: tiling scheme (columns × rows, e.g. 2x3)").fill("2x2")
        batch.get_by_label(f"Channel {w}: tiling overlap").fill("0.1")
        batch.get_by_label(f"Channel {w}: z step (µm)").fill("10")
    batch.get_by_role("button", name="Apply batch parameters to all samples").click()
    form.wait_for_load_state()
    assert form.get_by_text("Batch parameters applied to 1 sample.").is_visible()
    section = form.locator(f"#sample-{sample}")
    for w in channels:
        section.get_by_label(f"Channel {w}: number of z planes").fill(str(planes))
        section.get_by_label(f"Raw data subfolder (Channel {w})").fill(subfolders[w])
    section.get_by_role("button", name="Imaging complete — data are on storage").click()
    form.locator(f'#sample-{sample} [data-testid="imaged"]').wait_for(timeout=120_000)
    shot(form, artifacts, f"04-imaging-batch-{number}-imaged")
    form.get_by_role("button", name="Complete imaging batch").click()
    form.wait_for_url("**/imaging/queue")
    # imaging batch 1 of clearing batch `number`
    assert form.get_by_text("Imaging of batch 1 is complete; the requester has been emailed.").is_visible()
    form.close()


def processor_starts_lavision(page, artifacts) -> None:
    page.get_by_role("link", name="Processing", exact=True).click()
    page.wait_for_url("**/processing/queue")
    shot(page, artifacts, "05-processing-queue")
    row = page.locator(f'[data-testid="queue-ready"] tr[data-pr="{OWNER}/{REQUEST}/{S1}/1/1"]')
    row.get_by_role("link").first.click()
    page.wait_for_url(f"**/processing/entry/{OWNER}/{REQUEST}/{S1}/1/1")
    assert page.get_by_role("heading", name="Processing entry form").is_visible()
    page.get_by_role("button", name="Start processing").click()
    page.wait_for_url(f"**/processing/log/{OWNER}/{REQUEST}/{S1}/1/1")
    assert page.get_by_text("Processing has started. You will be emailed when it finishes.").is_visible()
    shot(page, artifacts, "06-processing-log-started")


def processor_starts_destriping(page, artifacts, entry_url: str) -> None:
    page.goto(entry_url)
    shot(page, artifacts, "07-flatfield-entry")
    page.get_by_role("button", name="Start destriping for all channels").click()
    page.wait_for_load_state()
    assert page.get_by_text("Destriping started for 2 channels.").is_visible()


# --- the viewer --------------------------------------------------------------------------------------


def data_fraction(pixels) -> float:
    """The share of a panel's pixels that show data: everything but the dark in-volume background (grey levels up
    to 45), the flat grey (128) Neuroglancer paints outside the volume and the yellow bounding box. What remains
    in an empty panel (scale bar, crosshair, axis labels) is about one percent. (The viewer tests' bright-pixel
    check suits their saturated blocks, not these dimmer real volumes under a coloured atlas overlay.)"""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    grey = (pixels.max(axis=-1) - pixels.min(axis=-1)) <= 6
    level = pixels.mean(axis=-1)
    background = grey & ((level <= 45) | (abs(level - 128) <= 2))
    yellow = (r > 200) & (g > 200) & (b < 80)
    return float((~background & ~yellow).mean())


def red_markers(pixels) -> int:
    """Pixels inside the red point markers of cell layers (setColor(1.0, 0.25, 0.2)), told apart from the red
    one-pixel crosshair line by their height (as the viewer tests do)."""
    red = (
        (pixels[..., 0] > 100) & (pixels[..., 0] > 2 * pixels[..., 1] + 30) & (pixels[..., 0] > 2 * pixels[..., 2] + 30)
    )
    return int((red[2:-2] & red[:-4] & red[4:]).sum())


def what_is_drawn(viewer, path) -> tuple[list[float], int]:
    """Screenshot the viewer: the data fraction of each Neuroglancer panel, and the cell-marker pixels."""
    import numpy as np
    from PIL import Image

    viewer.screenshot(path=str(path))
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    fractions, markers = [], 0
    for panel in viewer.locator(".neuroglancer-rendered-data-panel").all():
        b = panel.bounding_box()
        if b and b["width"] > 20 and b["height"] > 20:
            x0, y0 = int(b["x"]), int(b["y"])
            pixels = image[y0 : y0 + int(b["height"]), x0 : x0 + int(b["width"])]
            fractions.append(data_fraction(pixels))
            markers += red_markers(pixels)
    return fractions, markers


def check_view(session_page, card, expected: set[str], artifacts, name: str) -> None:
    """One view of the session page: ready; opened in Neuroglancer, the client fetches every layer's info and a
    chunk through the proxy; every panel shows data; then the researcher stops it."""
    base = session_page.url.split("/viewer/")[0]
    card.get_by_test_id("session-status").filter(has_text="Ready").wait_for(timeout=120_000)
    session_id = card.get_attribute("data-session")
    layers = {row.get_attribute("data-layer") for row in card.locator('[data-testid="session-layers"] tbody tr').all()}
    assert layers == expected, f"{name}: {layers} != {expected}"
    enter = card.get_by_test_id("open-viewer").get_attribute("href")
    assert enter == f"/viewer/session/{session_id}/enter"  # sets the access cookie, then opens Neuroglancer
    seen: list[tuple[int, str]] = []
    viewer = session_page.context.new_page()
    viewer.set_viewport_size({"width": 1280, "height": 900})
    viewer.on("response", lambda r: seen.append((r.status, r.url)))
    viewer.goto(base + enter)
    assert viewer.url.startswith(f"{base}/nglancer/{session_id}/v/")
    prefix = f"{base}/cv/{session_id}/"
    chunk = {n: re.compile(re.escape(prefix + n) + r"/(spatial\d+/|[^/]+/\d+-\d+_\d+-\d+_\d+-\d+)") for n in expected}
    deadline = time.monotonic() + 90
    while True:
        ok = [u for s, u in seen if s == 200]
        missing = [f"{n} info" for n in expected if prefix + n + "/info" not in ok]
        missing += [f"{n} chunk" for n in expected if not any(chunk[n].match(u) for u in ok)]
        if not missing:
            break
        assert time.monotonic() < deadline, f"{name}: not fetched through the proxy: {missing}; seen {seen[-30:]}"
        viewer.wait_for_timeout(250)
    assert all(u.startswith(base) for _, u in seen), "every request of the client goes through the proxy"
    path = artifacts / f"{name}.png"
    # detected cells are drawn where they lie near the shown plane: at full resolution many are (the atlas
    # view's middle plane may hold none of the registered cells)
    cells = any(n.startswith("cells_ch") for n in expected)
    deadline = time.monotonic() + 45
    while True:  # drawing trails the fetches on a software renderer: look again until every panel shows data
        viewer.wait_for_timeout(1000)
        fractions, markers = what_is_drawn(viewer, path)
        drawn = bool(fractions) and min(fractions) > 0.05 and (markers > 20 or not cells)
        if drawn or time.monotonic() > deadline:
            break
    assert fractions and min(fractions) > 0.05, f"{name}: a panel shows no data: {fractions} (see {path})"
    assert markers > 20 or not cells, f"{name}: the detected cells are not drawn ({markers} marker pixels; {path})"
    viewer.close()
    card.get_by_test_id("stop-session").click()
    session_page.wait_for_load_state()


def researcher_opens_every_product(page, link: str, views: dict[str, set[str]], artifacts, name: str) -> None:
    page.goto(link)
    assert page.get_by_role("heading", name=re.compile("View data")).is_visible()
    for box in page.locator('[data-testid="setup-form"] input[type=checkbox]:not([disabled])').all():
        box.check()
    shot(page, artifacts, f"{name}-setup")
    page.get_by_role("button", name="Open in Neuroglancer").click()
    page.wait_for_url(re.compile(r".*/viewer/session/[0-9a-f]{32}(\?.*)?$"))
    cards = page.locator('[data-testid="session-card"]')
    assert cards.count() == len(views), cards.locator("h2").all_inner_texts()
    shot(page, artifacts, f"{name}-sessions")
    listing = page.url
    for i, title in enumerate(views):
        page.goto(listing)  # stopping a view shows that view's page alone
        card = cards.filter(has=page.get_by_role("heading", name=title))
        assert card.count() == 1, f"no view {title!r}: {cards.locator('h2').all_inner_texts()}"
        check_view(page, card, views[title], artifacts, f"{name}-view-{i + 1}")


def wait_until_stopped(launcher_url: str, timeout: float = 60) -> None:
    """Every view the researcher stopped is gone from the launcher (stops run in the worker)."""
    last: list = []

    def none_left() -> bool:
        last[:] = requests.get(f"{launcher_url}/v1/sessions", headers=auth(), timeout=10).json()["sessions"]
        return not last

    wait_for(none_left, timeout, "the views the researcher stopped to end", detail=lambda: last, interval=0.5)


# --- the journey -------------------------------------------------------------------------------------


def test_one_request_from_the_form_to_neuroglancer_and_the_cell_counts(
    app, settings, stack, synthetic_atlas, log_in, smtp, make_user, artifacts_dir, launcher_service
):
    artifacts = artifacts_dir / "e2e"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    started = time.monotonic()
    mail = Mailbox(smtp, stack)
    brain, _truth = synthetic_atlas
    make_user(OWNER, password=PASSWORD)
    make_user("cleo", roles=["clearing_staff"], password=PASSWORD)
    make_user("ian", roles=["imaging_staff"], password=PASSWORD)
    make_user("pat", roles=["processing_staff"], password=PASSWORD)
    base = stack.base

    # 1. the researcher files the request
    researcher = log_in(OWNER)
    researcher_files_the_request(researcher, artifacts)
    (received,) = mail.wait(f"{OWNER}@test.example", f"lightserv: Request received: {REQUEST}")
    assert f"{base}/requests/{OWNER}/{REQUEST}" in mail.links(received)
    mail.links(mail.wait("cleo@test.example", f"lightserv: New clearing request: {OWNER}/{REQUEST}")[0])

    # 2. the clearer clears both batches
    clearer = log_in("cleo")
    clearer_clears_both_batches(clearer, artifacts)
    for number in (1, 2):
        (cleared,) = mail.wait(f"{OWNER}@test.example", f"lightserv: Clearing complete: {REQUEST} batch {number}")
        mail.links(cleared)
    mail.links(mail.wait("ian@test.example", f"lightserv: Samples ready for imaging: {OWNER}/{REQUEST}")[0])

    # 3. the microscopes write the raw data; the imager images both batches
    lavision, smartspim = write_raw_data(settings, brain)
    imager = log_in("ian")
    imager_images_a_batch(imager, artifacts, 1, S1, ("488", "647"), {"488": "acq", "647": "acq"}, lavision.n_planes)
    imager_images_a_batch(imager, artifacts, 2, S2, ("488", "642"), {"488": "Ex_488", "642": "Ex_642"},
                          smartspim.n_planes)  # fmt: skip
    for message in mail.wait(f"{OWNER}@test.example", f"lightserv: Imaging complete: {REQUEST}", count=2):
        mail.links(message)
    imaged = time.monotonic()

    # 4. the processor starts the LaVision pipeline; SmartSPIM stitching started at submission
    processor = log_in("pat")
    mail.links(mail.wait("pat@test.example", f"lightserv: Samples ready for processing: {OWNER}/{REQUEST}")[0])
    processor_starts_lavision(processor, artifacts)
    (flatfield,) = mail.wait("pat@test.example", f"lightserv: Flat-field needed: {OWNER}/{REQUEST}/{S2}", 300)
    entry = [u for u in mail.links(flatfield) if "/processing/entry/" in u]
    assert entry == [f"{base}/processing/entry/{OWNER}/{REQUEST}/{S2}/1/1"], entry
    spim_raw = settings.data_root / rawdata_resolution_dir(OWNER, REQUEST, S2, 1, "3.6x")
    for w in ("488", "642"):  # the facility's flat-field files, placed beside the stitched planes
        shutil.copy(spim_raw / f"Ex_{w}" / "flat.tiff", spim_raw / f"Ex_{w}_stitched" / "flat.tiff")
    processor_starts_destriping(processor, artifacts, entry[0])

    # 5. every product made, the researcher opens each through the emails' links
    done = {}
    for sample in (S1, S2):
        (message,) = mail.wait(f"{OWNER}@test.example", f"lightserv: Processing complete: {REQUEST} / {sample}", 480)
        body = message.get_body(("plain",)).get_content()
        views = S1_VIEWS if sample == S1 else S2_VIEWS
        listed = {line.strip() for line in body.splitlines()}
        unlisted = [
            n for names in views.values() for n in names if not n.startswith("atlas_") and email_line(n) not in listed
        ]
        assert not unlisted, f"products missing from the email: {unlisted}\n{body}"
        done[sample] = [u for u in mail.links(message) if "/viewer/setup/" in u]
        assert done[sample] == [f"{base}/viewer/setup/{OWNER}/{REQUEST}/{sample}/1/1"], done[sample]
    processed = time.monotonic()
    (all_done,) = mail.wait(f"{OWNER}@test.example", f"lightserv: All processing for {REQUEST} is complete")
    overview = f"{base}/requests/{OWNER}/{REQUEST}"
    assert overview in mail.links(all_done)
    researcher_opens_every_product(researcher, done[S1][0], S1_VIEWS, artifacts, "08-lavision")
    researcher_opens_every_product(researcher, done[S2][0], S2_VIEWS, artifacts, "09-smartspim")
    wait_until_stopped(launcher_service.url)
    # the overview offers no raw view of tiled data; its address explains why
    researcher.goto(f"{base}/viewer/setup/raw/{OWNER}/{REQUEST}/{S1}/1")
    assert researcher.get_by_text("Raw-data views are made only for single-tile LaVision acquisitions").is_visible()

    # 6. the overview: complete, with the cells counted per atlas region
    researcher.goto(overview)  # the link of the last email
    assert researcher.get_by_test_id("status-text").inner_text() == "Complete"
    counts = researcher.locator('[data-testid="cell-counts"]')
    rows = counts.locator("tbody tr")
    assert rows.count() > 0
    numbers = [int(n) for n in rows.locator('[data-testid="cell-count"]').all_inner_texts()]
    # 25 cells were planted; detection finds at least 90 % of them
    assert numbers and all(n > 0 for n in numbers) and sum(numbers) >= 0.9 * len(brain.cells_xyz), numbers
    assert all(name.strip() for name in rows.locator("td:first-child").all_inner_texts()), "regions are named"
    counts.scroll_into_view_if_needed()
    shot(researcher, artifacts, "10-overview-complete")
    with smtp.lock:
        subjects = [m["Subject"] for _rcpts, m in smtp.messages]
    assert not [s for s in subjects if "FAILED" in s or "Problem" in s or "Could not" in s], subjects
    print(f"\njourney: imaging done after {imaged - started:.0f} s, processing after {processed - started:.0f} s,"
          f" total {time.monotonic() - started:.0f} s")  # fmt: skip
