"""Fixtures of the app's viewer tests: the app pointed at the real launcher and proxy (those are shared with the
launcher's own tests in tests/support/launcher.py), and request rows whose layers are ready."""

from __future__ import annotations

import pytest

from tests.support.launcher import viewer_settings_for
from tests.support.layers import write_atlas_layer, write_cells_layer, write_image_layer


@pytest.fixture
def viewer_settings(settings, monkeypatch, launcher_service, chp):
    """The app's settings pointed at the real launcher and proxy for one test."""
    for key, value in viewer_settings_for(launcher_service, chp).items():
        monkeypatch.setattr(settings, key, value)
    return settings


# --- a request with layers ---------------------------------------------------------------------------

OWNER, REQUEST, SAMPLE = "ana", "brains", "s1"
IKEY = dict(username=OWNER, request_name=REQUEST, sample_name=SAMPLE, imaging_request_number=1)
PKEY = dict(IKEY, processing_request_number=1)
RAW_SETUP = f"/viewer/setup/raw/{OWNER}/{REQUEST}/{SAMPLE}/1"
#: cells (voxels x, y, z) drawn in the middle plane, away from the bright blocks
CELLS = [(20.5, 20.5, 3.5), (24.5, 70.5, 3.5), (110.5, 20.5, 3.5)]
SETUP = f"/viewer/setup/{OWNER}/{REQUEST}/{SAMPLE}/1/1"


class World:
    """Request `ana/brains` (sample s1, 1.3x, channels 488 registration and 647 cell detection, imaging
    complete) and a helper that registers a DataLayer with real files on disk."""

    def __init__(self, app):
        self.app = app
        self.settings = app.config["SETTINGS"]

    def layer(self, product: str, channel: str, sheet: str = "none", status: str = "ready", role: str = "",
              ventral_up: bool = False, build: bool = True) -> dict:  # fmt: skip
        from lightserv.db import get_schemas
        from lightserv.layers.services import LayerTarget

        target = LayerTarget(OWNER, REQUEST, SAMPLE, 1, "1.3x", channel, product, lightsheet=sheet,
                             ventral_up=ventral_up, processing_request_number=0 if product == "raw" else 1,
                             role=role)  # fmt: skip
        folder = self.settings.data_root / target.folder()
        kind = "annotation" if product in ("cells", "cells_registered") else "image"
        if build and status == "ready":
            if kind == "annotation":
                write_cells_layer(folder, CELLS)
            else:
                write_image_layer(folder)
        row = dict(target.key(), layer_name=target.name(), layer_type=kind, layer_path=str(target.folder()),
                   source_path=f"{OWNER}/{REQUEST}/{SAMPLE}/imaging_request_1/rawdata/resolution_1.3x/ch{channel}",
                   status=status, data_type="uint16", voxel_x_nm=5000.0, voxel_y_nm=5000.0, voxel_z_nm=10000.0,
                   size_x=128, size_y=96, size_z=6, num_scales=2, run_id=None, created_at=_now(), ready_at=None,
                   failure_reason="")  # fmt: skip
        with self.app.app_context():
            table = get_schemas().lightsheet.Request.DataLayer
            if table & target.key():
                (table & target.key()).delete(prompt=False, part_integrity="ignore")
            table.insert1(row)
        return row

    def set_status(self, layer: dict, status: str) -> None:
        from lightserv.db import get_schemas
        from lightserv.layers.services import LAYER_KEY

        with self.app.app_context():
            get_schemas().lightsheet.Request.DataLayer.update1({**{k: layer[k] for k in LAYER_KEY}, "status": status})

    def imaging(self, **values) -> None:
        from lightserv.db import get_schemas

        with self.app.app_context():
            get_schemas().lightsheet.Request.ImagingRequest.update1({**IKEY, **values})

    def channel(self, channel: str, **values) -> None:
        from lightserv.db import get_schemas

        key = dict(IKEY, image_resolution="1.3x", channel_name=channel, ventral_up=0)
        with self.app.app_context():
            get_schemas().lightsheet.Request.ImagingChannel.update1({**key, **values})


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@pytest.fixture(scope="session")
def atlas_installed(settings):
    """The synthetic atlas overlay where the seeded Atlas row says allen_2017's layer is."""
    return write_atlas_layer(settings.atlas_root / "allen_2017" / "precomputed")


@pytest.fixture
def world(app, make_user, atlas_installed):
    import shutil

    from tests.factories import channel, new_request, resolution, sample, submit

    make_user(OWNER)
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request(OWNER, REQUEST, [sample(SAMPLE, wishes)]))
    w = World(app)
    w.imaging(imaging_progress="complete")
    yield w
    shutil.rmtree(app.config["SETTINGS"].data_root / OWNER, ignore_errors=True)
