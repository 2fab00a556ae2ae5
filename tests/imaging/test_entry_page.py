"""The imaging entry form through HTTP, as a browser would post it: apply batch
parameters, save, submit with a broken then a fixed folder, skip, complete."""

from __future__ import annotations

import shutil
import time
from html.parser import HTMLParser

import pytest

from lib.naming import rawdata_resolution_dir
from lib.synth import corrupt, make_brain, write_lavision
from lightserv.db import get_schemas
from lightserv.imaging import tasks
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import batch_url, finish_clearing, imaging_batch, imaging_requests, login

PLANES = 4


class FormReader(HTMLParser):
    """name -> value of what a browser would submit from <form id=...> (checked boxes only)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value") or "on"
            else:
                self.fields[a["name"]] = a.get("value") or ""
        if tag == "select" and "disabled" not in a:
            self._select = a.get("name")
        if tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str) -> dict:
    reader = FormReader(form_id)
    reader.feed(html)
    assert reader.fields, f"no form {form_id}"
    return reader.fields


@pytest.fixture
def started(app, client, make_user, act, monkeypatch):
    """ana/brains with s1 and s2 at 1.3x (488 registration, 647 cells), started by "ian"; validation
    runs in-process instead of on a worker."""
    make_user("ana")
    make_user("ian", roles=["imaging_staff"])
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes), sample("s2", wishes)]))
    finish_clearing(app)
    login(client, "ian")
    assert act(batch_url(suffix="/start")).status_code == 303
    monkeypatch.setattr(tasks.validate_sample, "apply_async", lambda args, **_: tasks.run_validation(*args))


def acquisition(app, sample_name: str):
    brain = make_brain((PLANES, 32, 40), seed=4, n_cells=3)
    root = app.config["SETTINGS"].data_root / rawdata_resolution_dir("ana", "brains", sample_name, 1, "1.3x")
    shutil.rmtree(root / "Ex_488_647", ignore_errors=True)  # data_root is shared by the session
    return write_lavision(root / "Ex_488_647", brain, tiling=(2, 1), overlap=0.2, n_planes=PLANES)


def channel_row(app, sample_name: str, wavelength: str, ventral: bool = False) -> dict:
    with app.app_context():
        key = {"sample_name": sample_name, "channel_name": wavelength, "ventral_up": int(ventral)}
        return (get_schemas().lightsheet.Request.ImagingChannel & key).fetch1()


def fill_sample(fields: dict, subfolder: str = "Ex_488_647") -> dict:
    for w in ("488", "647"):
        fields[f"s|1.3x|{w}|0|number_of_z_planes"] = str(PLANES)
        fields[f"s|1.3x|{w}|0|rawdata_subfolder"] = subfolder
    return fields


def test_an_imager_applies_parameters_submits_fixes_a_folder_and_completes(app, client, started, act):
    html = client.get(batch_url()).get_data(as_text=True)
    assert "Imaging entry form" in html and "(1/1) Image resolution: 1.3x (LaVision)" in html
    batch = form_fields(html, "batch-form")
    for w in ("488", "647"):
        batch[f"b|1.3x|{w}|0|tiling_scheme"] = "2x1"
        batch[f"b|1.3x|{w}|0|tiling_overlap"] = "0.2"
    resp = act(batch_url(suffix="/apply"), batch, follow_redirects=True)
    assert "Batch parameters applied to 2 samples." in resp.get_data(as_text=True)
    assert channel_row(app, "s2", "647")["tiling_scheme"] == "2x1"
    assert channel_row(app, "s2", "647")["cell_detection"] == 1

    truth = acquisition(app, "s1")
    corrupt(truth.out_dir, "extra_tile_row")
    html = client.get(batch_url()).get_data(as_text=True)
    fields = fill_sample(form_fields(html, "sample-form-s1"))
    resp = act(batch_url(suffix="/sample/s1/submit"), fields, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert 'data-testid="validation-messages"' in page
    assert "Sample s1, resolution 1.3x: Channel 488: found files outside the tiling scheme" in page
    assert imaging_requests(app)["s1"]["imaging_progress"] == "pending"

    # the imager removes the stray row of tiles (outside the app) and submits again
    for path in truth.out_dir.iterdir():
        if "x 01]" in path.name:
            path.unlink()
    resp = act(batch_url(suffix="/sample/s1/submit"), fields, follow_redirects=True)
    assert "Imaging entry for sample s1 was successful." in resp.get_data(as_text=True)
    assert channel_row(app, "s1", "647")["imspector_channel_index"] == 1

    resp = act(batch_url(suffix="/complete"))
    assert resp.status_code == 409 and "still need imaging or skipping: s2" in resp.get_data(as_text=True)
    resp = act(batch_url(suffix="/sample/s2/skip"), {"reason": "cracked"}, follow_redirects=True)
    assert "Sample s2 was skipped and counts as done." in resp.get_data(as_text=True)
    assert act(batch_url(suffix="/complete")).status_code == 303
    assert imaging_batch(app)["imaging_progress"] == "complete"
    html = client.get(batch_url()).get_data(as_text=True)
    assert "This batch is complete. The form is read-only." in html

    # the imaging log shows what was acquired, with the full raw-data folder and the channel index
    log = client.get("/imaging/log/ana/brains/s1/1").get_data(as_text=True)
    assert "Acquired imaging parameters" in log
    assert "ana/brains/s1/imaging_request_1/rawdata/resolution_1.3x/Ex_488_647" in log
    assert "cell detection" in log and "2x1" in log
    assert "Skip reason" in client.get("/imaging/log/ana/brains/s2/1").get_data(as_text=True)


def test_a_bad_field_is_shown_and_nothing_is_saved(app, client, started, act):
    fields = form_fields(client.get(batch_url()).get_data(as_text=True), "sample-form-s1")
    fields["s|1.3x|488|0|rawdata_subfolder"] = "my folder"
    fields["s|1.3x|488|0|z_step"] = "12"
    resp = act(batch_url(suffix="/sample/s1/save"), fields)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "Raw data subfolder must not contain spaces." in page and 'value="my folder"' in page
    assert channel_row(app, "s1", "488")["z_step"] == 10


def test_ventral_up_from_the_page_and_the_validation_endpoint(app, client, started, act):
    resp = act(batch_url(suffix="/sample/s1/ventral/add"), {"channel": "1.3x|647"}, follow_redirects=True)
    assert "Ventral-up channel 647 added at 1.3x." in resp.get_data(as_text=True)
    assert channel_row(app, "s1", "647", ventral=True)["cell_detection"] == 1
    state = client.get(batch_url(suffix="/sample/s1/validation")).get_json()
    assert state == {"status": "none", "imaging_progress": "pending", "messages": []}
    assert client.get(batch_url(suffix="/sample/nope/validation")).status_code == 404


def test_only_admins_reopen_and_other_imaging_staff_see_the_form_read_only(app, client, started, act, make_user):
    assert act(batch_url(suffix="/sample/s2/skip"), {"reason": ""}).status_code == 303
    assert act(batch_url(suffix="/sample/s2/reopen")).status_code == 403
    make_user("ivy", roles=["imaging_staff"])
    login(client, "ivy")
    html = client.get(batch_url()).get_data(as_text=True)
    assert "Imaged by ian" in html and "<fieldset disabled>" in html
    assert act(batch_url(suffix="/sample/s1/save"), {}).status_code == 403
    make_user("adam", roles=["facility_admin"])
    login(client, "adam")
    assert act(batch_url(suffix="/sample/s2/reopen")).status_code == 303
    assert imaging_requests(app)["s2"]["imaging_progress"] == "pending"


def test_add_and_delete_channel_buttons_post_their_row(app, client, started, act):
    html = client.get(batch_url()).get_data(as_text=True)
    assert 'data-testid="add-channel-1.3x"' in html and ">Delete channel<" in html
    fields = form_fields(html, "sample-form-s1")
    resp = act(
        batch_url(suffix="/sample/s1/channel/add"),
        {**fields, "resolution": "1.3x", "add|1.3x|channel_name": "555", "add|1.3x|purpose": "generic_imaging"},
        follow_redirects=True,
    )
    assert "Channel 555 added at 1.3x." in resp.get_data(as_text=True)
    assert channel_row(app, "s1", "555")["added_during_imaging"] == 1
    resp = act(batch_url(suffix="/channel/delete"), {"channel": "1.3x|647|0"}, follow_redirects=True)
    assert "Channel 647 deleted at 1.3x." in resp.get_data(as_text=True)
    with app.app_context():
        left = (get_schemas().lightsheet.Request.ImagingChannel & {"channel_name": "647"}).to_dicts()
    assert left == []


def test_while_validation_runs_the_section_shows_progress_and_is_locked(app, client, started, act, monkeypatch):
    monkeypatch.setattr(tasks.validate_sample, "apply_async", lambda args, **_: None)  # the worker is busy
    acquisition(app, "s1")
    fields = fill_sample(form_fields(client.get(batch_url()).get_data(as_text=True), "sample-form-s1"))
    assert act(batch_url(suffix="/sample/s1/submit"), fields).status_code == 303
    html = client.get(batch_url()).get_data(as_text=True)
    section = html.split('id="sample-s1"', 1)[1].split("</section>", 1)[0]
    assert "Validating raw data…" in section and "<fieldset disabled>" in section
    assert client.get(batch_url(suffix="/sample/s1/validation")).get_json()["status"] == "running"
    resp = act(batch_url(suffix="/sample/s1/save"), fields)  # a stale tab cannot change what is being checked
    assert resp.status_code == 409 and "being validated" in resp.get_data(as_text=True)


def test_an_expired_form_writes_nothing_and_shows_the_values_again(app, client, started):
    fields = form_fields(client.get(batch_url()).get_data(as_text=True), "batch-form")
    fields["b|1.3x|488|0|z_step"] = "7"
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    try:
        time.sleep(2.2)
        resp = client.post(batch_url(suffix="/apply"), data=fields)
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "This form expired. Please submit it again." in page and 'value="7"' in page
    assert channel_row(app, "s1", "488")["z_step"] == 10


def test_change_resolution_from_the_batch_table(app, client, started, act):
    html = client.get(batch_url()).get_data(as_text=True)
    assert 'data-testid="change-resolution-1.3x"' in html and "(this sample only)" in html
    resp = act(batch_url(suffix="/resolution/change"), {"old": "1.3x", "new|1.3x": "4x"}, follow_redirects=True)
    assert "Resolution 1.3x changed to 4x." in resp.get_data(as_text=True)
    assert channel_row(app, "s2", "647")["image_resolution"] == "4x"
