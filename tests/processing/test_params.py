"""The parameter documents and stage lists of processing runs, read back by the
stage programs' own parsers (`lib.pipeline.params`), which refuse unknown keys."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lib.pipeline.params import DestripeParams, LavisionParams, SmartspimParams
from lightserv.processing import params as P

PIXELS = {"1.1x": 5.909091, "1.3x": 5.0, "4x": 1.63, "3.6x": 1.866, "15x": 0.41}
ALLEN = {"atlas_name": "allen_2017", "template_path": "allen_2017/template.tif",
         "annotation_path": "allen_2017/annotation.tif", "voxel_x_um": 25.0, "voxel_y_um": 25.0,
         "voxel_z_um": 25.0}  # fmt: skip
PAXINOS = dict(ALLEN, atlas_name="paxinos", voxel_x_um=10.0, voxel_y_um=100.0, voxel_z_um=10.0)


def imaging_channel(name: str, *, index: int, planes: int = 100, tiling: str = "1x1", subfolder: str = "acq", **flags):
    row = dict(
        channel_name=name, registration=0, injection_detection=0, probe_detection=0, cell_detection=0,
        generic_imaging=0, rawdata_subfolder=subfolder, imspector_channel_index=index, number_of_z_planes=planes,
        tiling_scheme=tiling, tiling_overlap=0.1, z_step=10.0, image_orientation="horizontal",
        left_lightsheet_used=1, right_lightsheet_used=1, ventral_up=0,
    )  # fmt: skip
    row.update({k: int(v) for k, v in flags.items()})
    return row


def plan(channels, *, res="1.3x", ventral_up=False, orientation="sagittal", atlas=ALLEN, tmp=Path("/data")):
    return P.lavision_plan(
        channels, image_resolution=res, ventral_up=ventral_up, output_orientation=orientation, atlas=atlas,
        atlas_root=tmp / "atlas", raw_resolution_dir=tmp / "raw", pixel_size_um=PIXELS,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("imaged", "ventral_up", "output", "expected"),
    [
        ("sagittal", False, "sagittal", ("0", "1", "2")),
        ("horizontal", False, "sagittal", ("2", "1", "0")),
        ("horizontal", True, "sagittal", ("-2", "1", "-0")),
        ("coronal", False, "sagittal", ("0", "2", "1")),
        ("sagittal", False, "horizontal", ("2", "1", "0")),
        ("horizontal", False, "horizontal", ("0", "1", "2")),
        ("horizontal", True, "horizontal", ("-0", "1", "-2")),
        ("coronal", False, "horizontal", ("1", "2", "0")),
        ("sagittal", False, "coronal", ("0", "2", "1")),
        ("horizontal", False, "coronal", ("2", "0", "1")),
        ("horizontal", True, "coronal", ("-2", "-0", "1")),
        ("coronal", False, "coronal", ("0", "1", "2")),
    ],
)
def test_final_orientation_follows_the_table_of_section_4_3(imaged, ventral_up, output, expected):
    assert P.final_orientation(imaged, ventral_up, output) == expected


def test_channel_roles_follow_their_priority():
    assert P.channel_role({"registration": 1, "cell_detection": 1}) == "regch"
    assert P.channel_role({"probe_detection": 1, "cell_detection": 1}) == "injch"
    assert P.channel_role({"injection_detection": 1}) == "injch"
    assert P.channel_role({"cell_detection": 1}) == "cellch"
    assert P.channel_role({"generic_imaging": 1}) == "gench"


def test_a_single_tile_resolution_blends_registers_and_detects_with_arrays_of_section_5_1():
    doc_plan = plan([imaging_channel("488", index=0, registration=1, planes=120),
                     imaging_channel("647", index=2, cell_detection=1, planes=130)])  # fmt: skip
    stages = {s.name: s for s in doc_plan.stages}
    assert [s.name for s in doc_plan.stages] == ["setup", "blend", "downsize", "register", "detect"]
    assert stages["setup"].array_size is None
    assert stages["blend"].array_size == math.ceil(130 / 50)  # the largest plane count of all channels
    assert stages["downsize"].array_size == 2 and stages["register"].array_size == 2
    assert stages["detect"].array_size == 1  # one cell channel
    assert stages["detect"].module == "lib.pipeline.registration"
    assert (stages["detect"].resources.cpus, stages["detect"].resources.mem_gb) == (16, 128)
    doc = doc_plan.document
    assert doc["inputdictionary"] == {"/data/raw/acq": [["regch", "00"], ["cellch", "02"]]}
    assert doc["xyz_scale_um"] == [5.0, 5.0, 10.0]
    assert doc["number_of_z_planes"] == 130
    assert doc["finalorientation"] == ["2", "1", "0"]
    assert doc["downsized_voxel_um"] == [19.2308] * 3
    assert doc["atlasfile"] == "/data/atlas/allen_2017/template.tif"
    parsed = LavisionParams.from_document({**doc, "run_id": 1, "data_root": "/data", "output_dir": "/data/out"})
    assert [c.role for c in parsed.channels] == ["regch", "cellch"]
    assert parsed.resizefactor == 3 and parsed.stages == tuple(doc["stages"])


def test_a_tiled_resolution_stitches_one_task_per_channel_and_skips_registration_without_a_registration_channel():
    doc_plan = plan(
        [imaging_channel("488", index=0, tiling="2x2", generic_imaging=1),
         imaging_channel("647", index=2, tiling="2x2", subfolder="other", cell_detection=1)],
        res="4x", orientation="coronal", atlas=PAXINOS,
    )  # fmt: skip
    assert [(s.name, s.array_size) for s in doc_plan.stages] == [("setup", None), ("stitch", 2), ("downsize", 2)]
    doc = doc_plan.document
    assert set(doc["inputdictionary"]) == {"/data/raw/acq", "/data/raw/other"}
    assert doc["resizefactor"] == 5 and doc["xyz_scale_um"][0] == 1.63
    assert doc["finalorientation"] == ["2", "0", "1"]
    assert doc["downsized_voxel_um"] == [7.6923, 76.9231, 7.6923]
    assert "atlasfile" not in doc
    LavisionParams.from_document({**doc, "run_id": 1, "data_root": "/data", "output_dir": "/data/out"})


def test_channels_that_disagree_on_tiling_are_refused():
    with pytest.raises(P.ParamsError, match="tiling scheme"):
        plan([imaging_channel("488", index=0, tiling="2x2"), imaging_channel("647", index=2, tiling="1x1")])


def test_the_smartspim_document_puts_the_alignment_channel_first_and_parses():
    channels = [imaging_channel(c, index=None, subfolder=f"Ex_{c}") for c in ("488", "642", "561")]
    doc_plan = P.smartspim_plan(channels, image_resolution="3.6x", rawdata_dir=Path("/raw"), pixel_size_um=PIXELS)
    assert [c["wavelength"] for c in doc_plan.document["channels"]] == ["642", "561", "488"]
    assert [c["alignment"] for c in doc_plan.document["channels"]] == [True, False, False]
    assert [(s.name, s.array_size) for s in doc_plan.stages] == [
        ("import", 3), ("displcompute", None), ("place", None), ("copy_placement", 3), ("merge", 3),
    ]  # fmt: skip
    parsed = SmartspimParams.from_document({**doc_plan.document, "run_id": 3, "data_root": "/"})
    assert parsed.alignment_channel.wavelength == "642"


def test_the_destripe_document_parses_with_an_array_over_plane_ranges():
    doc, stages = P.destripe_plan(
        input_dir=Path("/raw/Ex_488_stitched"), flat_path=Path("/raw/Ex_488_stitched/flat.tiff"), n_planes=101,
        options={"sigma": [128.0, 128.0], "level": 0, "wavelet": "db3"},
    )  # fmt: skip
    assert [(s.name, s.array_size, s.resources.cpus) for s in stages] == [("destripe", 3, 32)]
    parsed = DestripeParams.from_document({**doc, "run_id": 4, "data_root": "/", "output_dir": "/raw/Ex_488_corrected"})
    assert parsed.sigma == (128.0, 128.0)
