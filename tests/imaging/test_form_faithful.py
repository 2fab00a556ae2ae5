"""The imaging entry form tells the imager what the researcher asked for and what each number means: each
channel's purposes, the researcher's output orientation as the default orientation (until the imager
stores one), a unit on every field, the raw-data folder with a Copy button, and a validation banner that
agrees with the result."""

from __future__ import annotations

import html as htmlmod
import re

import pytest

from lib.synth import corrupt
from lightserv.imaging import tasks
from lightserv.imaging.fields import UNITS
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import batch_url, finish_clearing, login
from .test_entry_page import acquisition, fill_sample, form_fields


@pytest.fixture
def wishes(app, client, make_user, act, monkeypatch):
    """ana/brains: s1 at 1.3x (488 registration, 647 cell detection; sagittal output, the default) and 2x
    (488, no processing); s2 the same channels with coronal output at 1.3x. "ian" has started the batch;
    validation runs in-process instead of on a worker."""
    make_user("ana")
    make_user("ian", roles=["imaging_staff"])
    two_x = resolution("2x", channel("488", "generic_imaging"))
    s1 = sample("s1", resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection")), two_x)
    coronal = resolution("1.3x", channel("488", "generic_imaging"), channel("647", "generic_imaging"),
                         final_orientation="coronal")  # fmt: skip
    s2 = sample("s2", coronal, two_x)  # the same channels: one imaging batch
    submit(app, new_request("ana", "brains", [s1, s2]))
    finish_clearing(app)
    login(client, "ian")
    assert act(batch_url(suffix="/start")).status_code == 303
    monkeypatch.setattr(tasks.validate_sample, "apply_async", lambda args, **_: tasks.run_validation(*args))


def stored_orientation(app, sample_name: str, res: str = "1.3x", wavelength: str = "488") -> str:
    from lightserv.db import get_schemas

    with app.app_context():
        key = {"sample_name": sample_name, "image_resolution": res, "channel_name": wavelength, "ventral_up": 0}
        return (get_schemas().lightsheet.Request.ImagingChannel & key).fetch1("image_orientation")


def section(html: str, sample_name: str) -> str:
    return html.split(f'id="sample-{sample_name}"', 1)[1].split("</section>", 1)[0]


def text_of(fragment: str) -> str:
    return " ".join(htmlmod.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_each_channel_shows_what_the_researcher_wants_it_for(app, client, wishes):
    s1 = section(client.get(batch_url()).get_data(as_text=True), "s1")
    table = s1.split('data-testid="sample-table-s1-1.3x"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<th scope="row" data-testid="channel-(\d+)">(.*?)</th>', table, re.S)
    assert [(w, text_of(cell)) for w, cell in cells] == [
        ("488", "488 nm — registration"),
        ("647", "647 nm — cell detection"),
    ]


def test_the_researchers_orientation_is_the_default_until_the_imager_stores_one(app, client, wishes, act):
    html = client.get(batch_url()).get_data(as_text=True)
    s1, s2 = form_fields(html, "sample-form-s1"), form_fields(html, "sample-form-s2")
    assert s1["s|1.3x|488|0|image_orientation"] == s1["s|1.3x|647|0|image_orientation"] == "sagittal"
    assert s1["s|2x|488|0|image_orientation"] == "horizontal"  # 2x is not processed: nothing was asked
    assert s2["s|1.3x|488|0|image_orientation"] == "coronal"
    assert form_fields(html, "batch-form")["b|1.3x|488|0|image_orientation"] == "sagittal"  # s1's rows
    asked = "Output orientation the researcher asked for: <strong>{}</strong>."
    assert asked.format("sagittal") in section(html, "s1") and asked.format("coronal") in section(html, "s2")
    assert 'data-testid="requested-orientation-2x"' not in html
    assert stored_orientation(app, "s1") == "horizontal"  # opening stored nothing

    # saving the form as shown stores the researcher's orientation
    assert act(batch_url(suffix="/sample/s2/save"), s2).status_code == 303
    assert stored_orientation(app, "s2") == "coronal"
    # what the imager chooses stays chosen, even when it is the old default
    s1["s|1.3x|488|0|image_orientation"] = "horizontal"
    assert act(batch_url(suffix="/sample/s1/save"), s1).status_code == 303
    html = client.get(batch_url()).get_data(as_text=True)
    assert form_fields(html, "sample-form-s1")["s|1.3x|488|0|image_orientation"] == "horizontal"
    assert "Asked for: sagittal" in section(html, "s1")  # the stored choice differs from the wish
    assert stored_orientation(app, "s1") == "horizontal"


def test_every_field_names_its_unit(app, client, wishes):
    html = client.get(batch_url()).get_data(as_text=True)
    s1 = section(html, "s1")
    two_x = s1.split('data-testid="sample-table-s1-2x"', 1)[1].split("</table>", 1)[0]
    headings = text_of(" | ".join(re.findall(r'<th scope="col">(.*?)</th>', two_x, re.S)))
    for unit in UNITS.values():
        assert f"({unit}" in headings, unit
    labels = dict(re.findall(r'name="s\|2x\|488\|0\|([a-z_]+)" aria-label="([^"]+)"', two_x))
    for column, unit in UNITS.items():
        assert htmlmod.unescape(labels[column]).endswith(f"({unit})") or f"({unit}," in labels[column], column
    assert "Raw data subfolder (Channel 488), inside resolution_2x/" in htmlmod.unescape(s1)


def test_the_raw_data_folder_of_each_resolution_has_a_copy_button(app, client, wishes, settings):
    s1 = section(client.get(batch_url()).get_data(as_text=True), "s1")
    destination = s1.split('data-testid="destination"', 1)[1]
    root = (settings.data_root_display or str(settings.data_root)).rstrip("/")
    for index, res in enumerate(("1.3x", "2x"), start=1):
        path = f"{root}/ana/brains/s1/imaging_request_1/rawdata/resolution_{res}/"
        assert f'<code class="imaging-path" id="dest-s1-{index}">{path}</code>' in destination
        assert f'data-copy="dest-s1-{index}"' in destination
    assert "<script>" not in s1 and "onclick" not in s1  # the button is wired by imaging.js


def test_after_a_failed_validation_no_message_says_it_is_still_validating(app, client, wishes, act):
    truth = acquisition(app, "s2")
    corrupt(truth.out_dir, "missing_plane")
    fields = fill_sample(form_fields(client.get(batch_url()).get_data(as_text=True), "sample-form-s2"))
    for column, value in (("number_of_z_planes", "4"), ("rawdata_subfolder", "acq")):
        fields[f"s|2x|488|0|{column}"] = value  # its folder does not exist: one more failure
    resp = act(batch_url(suffix="/sample/s2/submit"), fields, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert 'data-testid="validation-messages"' in page and "The raw data did not pass validation" in page
    assert "Validating" not in page  # nothing above the error says the check is still running
