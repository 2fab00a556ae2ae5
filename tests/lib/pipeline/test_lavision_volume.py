"""The downsized volume, in process: every row of the orientation table, per-axis
resampling, the downsize stage and the affine of its sidecar."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from lib.pipeline.errors import PipelineError
from lib.pipeline.lavision.downsize import downsize_channel, run_downsize
from lib.pipeline.lavision.planes import block_mean, write_plane
from lib.pipeline.lavision.resample import (
    axis_resampling,
    orient_volume,
    orientation_affine,
    resampling_affine,
)
from lib.pipeline.layout import downsized_volume, resized_dir
from lib.pipeline.params import LavisionParams
from lib.synth.brain import HORIZONTAL_TO_SAGITTAL, ventral_up_flip


def document_for(tmp_path, **overrides):
    """A parameter document with one channel, for the downsize stage."""
    document = {
        "output_dir": str(tmp_path / "out"),
        "inputdictionary": {str(tmp_path / "Ex_488"): [["regch", "00"]]},
        "xyz_scale_um": [5.0, 5.0, 10.0],
        "number_of_z_planes": 20,
        "resizefactor": 3,
        "finalorientation": ["2", "1", "0"],
        "downsized_voxel_um": [19.23, 19.23, 19.23],
        "stages": ["downsize"],
    }
    return {**document, **overrides}


# ---- orientation --------------------------------------------------------------------------------------

TABLE = [  # imaged orientation, output orientation, finalorientation
    ("sagittal", "sagittal", ("0", "1", "2")),
    ("horizontal", "sagittal", ("2", "1", "0")),
    ("horizontal_vu", "sagittal", ("-2", "1", "-0")),
    ("coronal", "sagittal", ("0", "2", "1")),
    ("sagittal", "horizontal", ("2", "1", "0")),
    ("horizontal", "horizontal", ("0", "1", "2")),
    ("horizontal_vu", "horizontal", ("-0", "1", "-2")),
    ("coronal", "horizontal", ("1", "2", "0")),
    ("sagittal", "coronal", ("0", "2", "1")),
    ("horizontal", "coronal", ("2", "0", "1")),
    ("horizontal_vu", "coronal", ("-2", "-0", "1")),
    ("coronal", "coronal", ("0", "1", "2")),
]
ORIENTATION = {(imaged, output): orientation for imaged, output, orientation in TABLE}
SHAPE_ZYX = (3, 4, 5)


def index_volume():
    """Voxel (x, y, z) holds x + 10·y + 100·z."""
    z, y, x = np.indices(SHAPE_ZYX)
    return x + 10 * y + 100 * z


@pytest.mark.parametrize(("imaged", "output", "orientation"), TABLE)
def test_each_orientation_row_maps_every_voxel_as_the_table_says(imaged, output, orientation):
    volume = index_volume()
    out = orient_volume(volume, orientation)
    n_in = (SHAPE_ZYX[2], SHAPE_ZYX[1], SHAPE_ZYX[0])  # (x, y, z)
    axes = [(int(s.lstrip("-")), s.startswith("-")) for s in orientation]
    assert out.shape == tuple(n_in[axes[i][0]] for i in (2, 1, 0))
    affine = orientation_affine(orientation, n_in)
    for o in np.ndindex(*out.shape[::-1]):  # o = (x, y, z) of the output
        source = [0, 0, 0]
        for i, (axis, flipped) in enumerate(axes):  # output axis i takes input axis `axis`
            source[axis] = n_in[axis] - 1 - o[i] if flipped else o[i]
        assert out[o[2], o[1], o[0]] == volume[source[2], source[1], source[0]]
        assert np.array_equal(affine @ np.array([*source, 1]), [*o, 1])


@pytest.mark.parametrize("output", ["sagittal", "horizontal", "coronal"])
def test_ventral_up_rows_undo_the_flip_of_the_brain(output):
    dorsal = index_volume()
    ventral = dorsal[::-1, :, ::-1]  # flipping the brain reverses input axes 0 (x) and 2 (z)
    assert np.array_equal(
        orient_volume(ventral, ORIENTATION[("horizontal_vu", output)]),
        orient_volume(dorsal, ORIENTATION[("horizontal", output)]),
    )


@pytest.mark.parametrize("pair", [("sagittal", "horizontal"), ("sagittal", "coronal"), ("horizontal", "coronal")])
def test_orienting_there_and_back_is_the_identity(pair):
    a, b = pair
    volume = index_volume()
    there = orient_volume(volume, ORIENTATION[(a, b)])
    assert np.array_equal(orient_volume(there, ORIENTATION[(b, a)]), volume)


def test_horizontal_to_sagittal_is_the_synthetic_brains_axis_change():
    n_in = (SHAPE_ZYX[2], SHAPE_ZYX[1], SHAPE_ZYX[0])
    assert np.array_equal(orientation_affine(("2", "1", "0"), n_in), HORIZONTAL_TO_SAGITTAL)
    ventral = orientation_affine(("-2", "1", "-0"), n_in)
    assert np.array_equal(ventral, HORIZONTAL_TO_SAGITTAL @ ventral_up_flip(SHAPE_ZYX))


@pytest.mark.parametrize(("voxel_in", "voxel_out"), [(15.0, 19.23), (10.0, 19.23), (8.15, 15.38), (15.0, 7.69)])
def test_resampling_gives_the_target_shape_and_keeps_the_mean(voxel_in, voxel_out):
    rng = np.random.default_rng(3)
    n_in = 97
    smooth = np.cumsum(rng.normal(size=(n_in, 6)), axis=0) + 50
    resampling = axis_resampling(n_in, voxel_in, voxel_out)
    out = resampling.apply(smooth, 0)
    assert out.shape == (round(n_in * voxel_in / voxel_out), 6)
    assert out.mean() == pytest.approx(smooth.mean(), rel=0.01)
    assert np.allclose(resampling.apply(np.full((n_in, 2), 321.0), 0), 321.0, rtol=1e-6), "rows sum to one"
    scale, offset = resampling.affine_1d()
    assert scale == pytest.approx(voxel_in / voxel_out)
    centres = (np.arange(resampling.n_out) - offset) / scale  # input coordinate of each output centre
    assert centres[0] == pytest.approx(voxel_out / voxel_in / 2 - 0.5)


def test_a_3d_resampling_keeps_the_mean_intensity():
    rng = np.random.default_rng(4)
    volume = rng.uniform(100, 4000, (40, 33, 50)).astype(np.float32)
    axes = [axis_resampling(n, v, 19.23) for n, v in zip((50, 33, 40), (15.0, 15.0, 10.0), strict=True)]
    out = axes[2].apply(axes[1].apply(axes[0].apply(volume, 2), 1), 0)
    assert out.shape == (21, 26, 39)
    assert out.mean() == pytest.approx(volume.mean(), rel=0.005)
    assert np.allclose(resampling_affine(axes)[:3, :3], np.diag([15 / 19.23, 15 / 19.23, 10 / 19.23]))


def downsize_stack(document, stack):
    """Write `stack` as the resized planes of the document's only channel and run the downsize stage."""
    params = LavisionParams.from_document(document)
    folder = resized_dir(params.output_dir, params.channels[0])
    folder.mkdir(parents=True)
    for z, plane in enumerate(stack):
        write_plane(folder, z, plane)
    return downsize_channel(params, params.channels[0])


def test_the_downsized_affine_maps_a_full_resolution_point_onto_the_same_structure(tmp_path):
    """A bright blob at a known full-resolution position, resized and downsized in ventral-up → sagittal
    orientation, is found where the sidecar's full_to_downsized affine says."""
    document = document_for(tmp_path, number_of_z_planes=40, finalorientation=["-2", "1", "-0"])
    centre = np.array([170.0, 64.0, 23.0])  # full-resolution (x, y, z)
    z, y, x = np.mgrid[0:40, 0:150, 0:240]
    blob = 100 + 3000 * np.exp(
        -((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * 12.0**2) - (z - centre[2]) ** 2 / (2 * 6.0**2)
    )
    sidecar = downsize_stack(document, [block_mean(plane, 3) for plane in blob])
    volume = tifffile.imread(tmp_path / "out" / sidecar["volume"]).astype(float) - 100
    assert list(volume.shape) == sidecar["shape_zyx"] == sidecar["shape_xyz"][::-1]
    expected = (np.asarray(sidecar["full_to_downsized"]) @ [*centre, 1])[:3]
    weights = np.clip(volume - 0.3 * volume.max(), 0, None)
    found = [float((np.indices(volume.shape)[2 - a] * weights).sum() / weights.sum()) for a in range(3)]
    assert np.allclose(found, expected, atol=0.35), (found, expected)
    back = np.asarray(sidecar["downsized_to_full"]) @ [*expected, 1]
    assert np.allclose(back[:3], centre)


def test_the_downsize_stage_resamples_each_axis_then_orients(tmp_path):
    """Plane-by-plane streaming along z gives what resampling the whole stack would."""
    out = tmp_path / "out"
    document = document_for(
        tmp_path,
        xyz_scale_um=[1.63, 1.63, 4.0],
        number_of_z_planes=23,
        resizefactor=5,
        finalorientation=["2", "0", "1"],
        downsized_voxel_um=[7.69, 12.0, 15.38],
    )
    stack = np.random.default_rng(5).uniform(100, 5000, (23, 31, 37)).round()
    sidecar = downsize_stack(document, stack)
    # output x <- input z (4 µm -> 7.69), y <- input x (8.15 µm -> 12), z <- input y (8.15 µm -> 15.38)
    along_x, along_y, along_z = (
        axis_resampling(n, v, t) for n, v, t in ((37, 8.15, 12.0), (31, 8.15, 15.38), (23, 4.0, 7.69))
    )
    expected = orient_volume(along_z.apply(along_y.apply(along_x.apply(stack, 2), 1), 0), ("2", "0", "1"))
    found = tifffile.imread(out / sidecar["volume"])
    assert found.shape == expected.shape == (round(31 * 8.15 / 15.38), round(37 * 8.15 / 12.0), round(23 * 4 / 7.69))
    assert np.abs(found.astype(float) - expected).max() <= 0.5 + 1e-3


def test_the_register_stage_reads_the_downsize_sidecar(tmp_path):
    """The contract with lib.pipeline.registration: sidecar name, shape and affine as it reads them."""
    from lib.pipeline.registration.volumes import DownsizedVolume

    document = document_for(tmp_path)
    sidecar = downsize_stack(document, np.full((20, 30, 40), 1000.0))
    params = LavisionParams.from_document(document)
    opened = DownsizedVolume.open(downsized_volume(params.output_dir, params.channels[0]))
    assert list(opened.shape_zyx) == sidecar["shape_zyx"]
    assert opened.voxel_size_um == (19.23, 19.23, 19.23)
    assert np.array_equal(opened.full_to_downsized, sidecar["full_to_downsized"])


def test_downsize_refuses_a_channel_whose_resized_planes_are_incomplete(tmp_path):
    document = document_for(tmp_path, number_of_z_planes=12)
    params = LavisionParams.from_document(document)
    folder = resized_dir(params.output_dir, params.channels[0])
    folder.mkdir(parents=True)
    write_plane(folder, 0, np.ones((4, 4)))
    with pytest.raises(PipelineError, match="holds 1 of the 12 resized planes"):
        run_downsize(document, 0, 1)
