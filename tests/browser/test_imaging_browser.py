"""Tried as a new user would (issue 7): in Chromium an imager claims a batch, reads what each channel is for,
copies a raw-data folder, applies batch parameters, fills two samples, sees a validation error for a
deliberately broken folder (and nothing above it saying it is still validating), fixes it, submits, and
completes the batch. Validation runs on a real Celery worker. The form fits 1440 and 390 px and axe finds
nothing serious. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil

import pytest

from lib.naming import rawdata_resolution_dir
from lib.synth import corrupt, make_brain, write_lavision
from tests.factories import channel, new_request, resolution, sample, submit
from tests.support import processes
from tests.support.browser_fixtures import log_in
from tests.support.page_audit import shoot_and_audit

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
PLANES = 4


def acquisition(app, sample_name: str):
    brain = make_brain((PLANES, 32, 40), seed=2, n_cells=2)
    folder = app.config["SETTINGS"].data_root / rawdata_resolution_dir("ana", "brains", sample_name, 1, "1.3x") / "acq"
    shutil.rmtree(folder, ignore_errors=True)
    return write_lavision(folder, brain, tiling=(1, 1), channels=("488", "647"), n_planes=PLANES)


def fill(section, subfolder: str) -> None:
    for w in ("488", "647"):
        section.get_by_label(f"Channel {w}: number of z planes").fill(str(PLANES))
        section.get_by_label(f"Raw data subfolder (Channel {w})").fill(subfolder)


@pytest.fixture
def worker(app, settings_overrides, tmp_path):
    """A real Celery worker for the validation task; afterwards the raw data written here is removed
    (DATA_ROOT is shared by the session)."""
    proc = processes.celery_worker(processes.env_for(settings_overrides), tmp_path, name="imaging-browser")
    yield proc
    proc.stop()
    shutil.rmtree(app.config["SETTINGS"].data_root / "ana", ignore_errors=True)


def test_an_imager_claims_applies_fills_fixes_a_broken_folder_and_completes(
    app, live_server, page, make_user, artifacts_dir, worker
):
    make_user("ana")
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes), sample("s2", wishes)]))
    from lightserv.db import get_schemas

    with app.app_context():
        key = {"username": "ana", "request_name": "brains", "clearing_batch_number": 1}
        get_schemas().lightsheet.Request.ClearingBatch.update1({**key, "clearing_progress": "complete"})
    acquisition(app, "s1")
    broken = acquisition(app, "s2")
    corrupt(broken.out_dir, "missing_plane")
    make_user("ian", roles=["imaging_staff"], password=PASSWORD)

    log_in(page, live_server, "ian", PASSWORD)
    page.get_by_role("link", name="Imaging", exact=True).click()
    page.wait_for_url("**/imaging/queue")
    row = page.locator('#table-ready tr[data-batch="ana/brains/1/1/1"]')
    assert "Not assigned" in row.inner_text() and "LaVision" in row.inner_text()
    page.screenshot(path=str(artifacts_dir / "imaging-queue.png"), full_page=True)
    with page.context.expect_page() as opened:
        row.get_by_role("link", name="Open").click()
    form = opened.value
    form.wait_for_load_state()
    assert form.get_by_role("heading", name="Imaging entry form").is_visible()

    form.get_by_role("button", name="Claim").click()
    form.wait_for_load_state()
    assert form.get_by_text("You now image this batch.").is_visible()
    form.get_by_role("button", name="Start imaging").click()
    form.wait_for_load_state()
    assert form.locator('[data-testid="imager"]').inner_text() == "ian"

    # what the researcher asked for, units, and the raw-data folder to copy
    s1 = form.locator("#sample-s1")
    assert s1.get_by_test_id("channel-488").inner_text() == "488 nm — registration"
    assert s1.get_by_test_id("channel-647").inner_text() == "647 nm — cell detection"
    assert s1.get_by_label("Channel 488: image orientation").input_value() == "sagittal"  # as asked
    assert s1.get_by_label("Channel 488: z step (µm)").is_visible()
    form.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    s1.get_by_role("button", name="Copy the raw-data folder of s1 at 1.3x").click()
    s1.get_by_text("Copied.").wait_for()
    copied = form.evaluate("navigator.clipboard.readText()")
    assert copied.endswith("/ana/brains/s1/imaging_request_1/rawdata/resolution_1.3x/")
    shoot_and_audit(form, artifacts_dir, "imaging-form")

    batch = form.locator("#batch-parameters")
    for w in ("488", "647"):
        batch.get_by_label(f"Channel {w}: z step (µm)").fill("8")
    batch.get_by_role("button", name="Apply batch parameters to all samples").click()
    form.wait_for_load_state()
    assert form.get_by_text("Batch parameters applied to 2 samples.").is_visible()
    assert form.locator("#sample-s2").get_by_label("Channel 647: z step (µm)").input_value() == "8.0"

    fill(form.locator("#sample-s1"), "acq")
    form.locator("#sample-s1").get_by_role("button", name="Save").click()
    form.wait_for_load_state()
    assert form.get_by_text("Sample s1 saved.").is_visible()

    fill(form.locator("#sample-s2"), "acq")
    form.locator("#sample-s2").get_by_role("button", name="Imaging complete — data are on storage").click()
    messages = form.locator('#sample-s2 [data-testid="validation-messages"]')
    messages.wait_for(timeout=90_000)
    assert "Sample s2, resolution 1.3x: Channel" in messages.inner_text()
    assert "missing tile [00 x 00]" in messages.inner_text()
    assert form.get_by_text("Validating").count() == 0  # nothing says the check is still running
    messages.scroll_into_view_if_needed()
    form.screenshot(path=str(artifacts_dir / "imaging-validation-error.png"), full_page=True)

    acquisition(app, "s2")  # the imager copies the data again
    form.locator("#sample-s2").get_by_role("button", name="Imaging complete — data are on storage").click()
    form.locator('#sample-s2 [data-testid="imaged"]').wait_for(timeout=90_000)
    form.locator("#sample-s1").get_by_role("button", name="Imaging complete — data are on storage").click()
    form.locator('#sample-s1 [data-testid="imaged"]').wait_for(timeout=90_000)
    assert form.get_by_text("Imaging entry for sample s1 was successful.").is_visible()
    form.screenshot(path=str(artifacts_dir / "imaging-samples-done.png"), full_page=True)

    form.get_by_role("button", name="Complete imaging batch").click()
    form.wait_for_url("**/imaging/queue")
    assert form.get_by_text("Imaging of batch 1 is complete; the requester has been emailed.").is_visible()
    assert form.locator('#table-complete tr[data-batch="ana/brains/1/1/1"]').count() == 1
    form.screenshot(path=str(artifacts_dir / "imaging-queue-complete.png"), full_page=True)
