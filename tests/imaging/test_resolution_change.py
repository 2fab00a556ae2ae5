"""Change resolution in both directions between microscopes: the rows it leaves behind,
including what must not change (purposes, acquisition values, notes) and the processing rows."""

from __future__ import annotations

import pytest

from lib.naming import rawdata_resolution_dir
from lightserv.db import get_schemas
from lightserv.imaging import sample_services as svc
from lightserv.imaging.batch_services import ImagingError, start_batch
from lightserv.imaging.resolution_change import change_resolution
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import finish_clearing

KEY = dict(username="ana", request_name="brains", clearing_batch_number=1, imaging_request_number=1,
           imaging_batch_number=1)  # fmt: skip
IMAGER = frozenset({"imaging_staff"})


@pytest.fixture
def started(app, make_user):
    make_user("ana")
    make_user("ian", roles=["imaging_staff"])
    wishes = resolution(
        "1.3x", channel("488", "registration"), channel("647", "cell_detection"), notes_for_imager="careful"
    )
    submit(app, new_request("ana", "brains", [sample("s1", wishes), sample("s2", wishes)]))
    finish_clearing(app)
    with app.test_request_context():
        start_batch(KEY, "ian", IMAGER)
        values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="",
                      tiling_scheme="2x2", tiling_overlap="0.1", z_step="5", number_of_z_planes="9",
                      rawdata_subfolder="keep")  # fmt: skip
        svc.save_sample(KEY, "s1", {("1.3x", "647", False): values}, "", "ian", IMAGER)
        svc.add_ventral_up(KEY, "s1", "1.3x", "647", "ian", IMAGER)


def rows(app, table: str, sample_name: str = "s1") -> list[dict]:
    with app.app_context():
        return (getattr(get_schemas().lightsheet.Request, table) & {"sample_name": sample_name}).to_dicts()


def test_lavision_to_smartspim_translates_channels_and_moves_dorsal_and_ventral_processing(app, started):
    with app.test_request_context():
        warnings = change_resolution(KEY, "s1", "1.3x", "3.6x", "ian", IMAGER)
    assert warnings == []
    channels = {(c["channel_name"], c["ventral_up"]): c for c in rows(app, "ImagingChannel")}
    assert set(channels) == {("488", 0), ("642", 0), ("642", 1)}
    assert all(c["image_resolution"] == "3.6x" for c in channels.values())
    moved = channels[("642", 0)]
    assert moved["cell_detection"] == 1 and moved["tiling_scheme"] == "2x2" and moved["z_step"] == 5
    assert moved["number_of_z_planes"] == 9 and moved["rawdata_subfolder"] == "keep"
    assert moved["right_lightsheet_used"] == 0
    assert channels[("488", 0)]["registration"] == 1
    [res] = rows(app, "ImagingResolutionRequest")
    assert (
        res["image_resolution"] == "3.6x" and res["microscope"] == "smartspim" and res["notes_for_imager"] == "careful"
    )
    proc = sorted((p["image_resolution"], p["ventral_up"]) for p in rows(app, "ProcessingResolutionRequest"))
    assert proc == [("3.6x", 0), ("3.6x", 1)]
    root = app.config["SETTINGS"].data_root
    assert (root / rawdata_resolution_dir("ana", "brains", "s1", 1, "3.6x", True)).is_dir()
    # the other sample is untouched
    assert {c["image_resolution"] for c in rows(app, "ImagingChannel", "s2")} == {"1.3x"}


def test_smartspim_back_to_lavision_2x_makes_generic_channels_and_drops_processing(app, started):
    with app.test_request_context():
        change_resolution(KEY, None, "1.3x", "3.6x", "ian", IMAGER)
        warnings = change_resolution(KEY, "s1", "3.6x", "2x", "ian", IMAGER)
    channels = {(c["channel_name"], c["ventral_up"]): c for c in rows(app, "ImagingChannel")}
    assert set(channels) == {("488", 0), ("647", 0), ("647", 1)}
    assert all(c["generic_imaging"] == 1 and c["registration"] == 0 and c["cell_detection"] == 0
               for c in channels.values())  # fmt: skip
    assert all(float(c["zoom_body_magnification"]) == 1.0 for c in channels.values())
    assert channels[("647", 0)]["tiling_scheme"] == "2x2"  # 2x allows up to 4x4
    assert "Sample s1: channel 488 becomes generic imaging at 2x." in warnings
    assert rows(app, "ProcessingResolutionRequest") == [] and rows(app, "ProcessingRequest") == []
    assert {c["image_resolution"] for c in rows(app, "ImagingChannel", "s2")} == {"3.6x"}


def test_a_change_to_a_resolution_the_sample_has_is_refused_and_nothing_changes(app, started):
    two = resolution("1.3x", channel("488")), resolution("4x", channel("488"))
    submit(app, new_request("ana", "two", [sample("t1", *two)]))
    finish_clearing(app, "ana", "two")
    key = {**KEY, "request_name": "two"}
    with app.test_request_context():
        start_batch(key, "ian", IMAGER)
        with pytest.raises(ImagingError, match="Sample t1 already has resolution 4x."):
            change_resolution(key, None, "1.3x", "4x", "ian", IMAGER)
    assert sorted({c["image_resolution"] for c in rows(app, "ImagingChannel", "t1")}) == ["1.3x", "4x"]


def test_tiling_above_the_new_maximum_resets_to_one_tile(app, started):
    with app.test_request_context():
        change_resolution(KEY, "s1", "1.3x", "3.6x", "ian", IMAGER)
        values = dict(image_orientation="horizontal", left_lightsheet_used="y", tiling_scheme="5x5",
                      tiling_overlap="0.1", z_step="5")  # fmt: skip
        svc.save_sample(KEY, "s1", {("3.6x", "488", False): values}, "", "ian", IMAGER)
        warnings = change_resolution(KEY, "s1", "3.6x", "1.1x", "ian", IMAGER)
    assert "Sample s1: tiling of channel 488 reset to 1x1 (the maximum at 1.1x is smaller)." in warnings
    assert {c["channel_name"]: c["tiling_scheme"] for c in rows(app, "ImagingChannel") if not c["ventral_up"]}[
        "488"
    ] == "1x1"
