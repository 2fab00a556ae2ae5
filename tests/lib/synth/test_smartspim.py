"""SmartSPIM acquisitions: the tile tree, known tile positions, stripes, flat field."""

from __future__ import annotations

import numpy as np
import pytest

from lib.synth import StripePattern, make_brain, write_smartspim
from lib.synth.optics import CAMERA_OFFSET

from .helpers import read, smartspim_canvas, smartspim_problems


@pytest.fixture(scope="module")
def spim_brain():
    return make_brain((8, 64, 64), seed=3, voxel_size_um=(1.866, 1.866, 2.0), n_cells=8)


def test_the_tree_is_channel_column_row_plane_with_stage_positions_in_tenths_of_microns(tmp_path, spim_brain):
    truth = write_smartspim(tmp_path, spim_brain, tiling=(2, 2), overlap=0.1, channels=("488", "642"))
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.tif"))
    # 34-pixel tiles stepping 31 pixels of 1.866 µm: 578 tenths of a micron between columns and rows.
    expected = sorted(
        f"{channel}/{x}/{x}_{y}/{z:06d}.tif"
        for channel in ("Ex_488_Em_0", "Ex_642_Em_2")
        for x in ("414020", "414598")
        for y in ("493660", "494238")
        for z in range(12340, 12500, 20)
    )
    assert files == expected
    assert "Ex_642_Em_2/414020/414020_493660/012340.tif" in files
    assert truth.tile_folder(1, 0) == "414598/414598_493660"
    assert truth.grid.tile_shape == (34, 34) and truth.grid.step == (31, 31)
    for channel in ("488", "642"):
        assert smartspim_problems(truth.channel_dir(channel), columns=2, rows=2, planes=8) == []
    plane = read(truth.plane_path("642", 1, 1, 7))
    assert plane.dtype == np.uint16 and plane.shape == (34, 34)


def test_a_ten_by_one_tiling_has_ten_column_folders_of_one_row_each(tmp_path, spim_brain):
    truth = write_smartspim(tmp_path, spim_brain, tiling=(10, 1), overlap=0.2, channels=("785",), n_planes=2)
    assert smartspim_problems(tmp_path / "Ex_785_Em_3", columns=10, rows=1, planes=2) == []
    assert len(set(truth.column_tenths)) == 10 and len(truth.row_tenths) == 1


def test_tile_overlaps_match_at_the_true_offsets_even_with_stripes_and_flat_field(tmp_path, spim_brain):
    truth = write_smartspim(
        tmp_path, spim_brain, tiling=(2, 2), overlap=0.25, channels=("642",), jitter_px=2, noise_sigma=0
    )
    height, width = truth.grid.tile_shape
    a, b = truth.grid.tile(0, 0), truth.grid.tile(1, 0)
    z = 4
    image_a = read(truth.plane_path("642", 0, 0, z)).astype(float)
    image_b = read(truth.plane_path("642", 1, 0, z)).astype(float)
    y0, y1 = max(a.y, b.y), min(a.y, b.y) + height
    x0, x1 = b.x, a.x + width
    part_a = image_a[y0 - a.y : y1 - a.y, x0 - a.x : x1 - a.x]
    part_b = image_b[y0 - b.y : y1 - b.y, x0 - b.x : x1 - b.x]
    assert part_a.size > 100
    assert np.abs(part_a - part_b).max() <= 1


def test_stripes_and_flat_field_multiply_the_clean_signal_as_the_truth_says(tmp_path, spim_brain):
    options = dict(tiling=(2, 1), overlap=0.2, channels=("488",), noise_sigma=0, n_planes=5)
    dirty = write_smartspim(tmp_path / "dirty", spim_brain, **options)
    clean = write_smartspim(tmp_path / "clean", spim_brain, stripes=False, flat=False, **options)
    assert clean.flat_paths == {} and clean.stripes is None
    assert dirty.stripes is not None and len(dirty.stripes.stripes) >= 2
    rows, cols = (0, dirty.grid.canvas_shape[0]), (0, dirty.grid.canvas_shape[1])
    factor = dirty.flat_field(rows, cols) * dirty.stripe_factor(rows, cols)
    z = 2
    signal_dirty = smartspim_canvas(dirty, "488", z) - CAMERA_OFFSET
    signal_clean = smartspim_canvas(clean, "488", z) - CAMERA_OFFSET
    assert np.abs(signal_dirty - signal_clean * factor).max() <= 1.0
    stripes = dirty.stripe_factor(rows, cols)
    assert stripes.min() < 0.85 and np.median(stripes) > 0.99  # a few dark lines, the rest untouched
    for stripe in dirty.stripes.stripes:  # each shadow starts at its absorber and runs along +x
        alone = StripePattern((stripe,)).factor((round(stripe.y), round(stripe.y) + 1), cols)[0]
        start = int(np.ceil(stripe.x_start))
        assert np.all(alone[:start] == 1.0) and alone[start] < 1 - stripe.depth / 2


def test_the_flat_field_image_is_written_in_each_channel_subfolder(tmp_path, spim_brain):
    truth = write_smartspim(tmp_path, spim_brain, tiling=(2, 2), channels=("488", "561"), n_planes=1)
    for channel, folder in (("488", "Ex_488_Em_0"), ("561", "Ex_561_Em_1")):
        path = tmp_path / folder / "flat.tiff"
        assert truth.flat_paths[channel] == path
        flat = read(path)
        assert flat.dtype == np.float32 and flat.shape == truth.grid.canvas_shape
        assert flat.max() <= 1.0 and flat.min() > 0.5
        np.testing.assert_allclose(flat, truth.flat_field((0, flat.shape[0]), (0, flat.shape[1])), rtol=1e-6)


def test_ventral_up_smartspim_data_is_flipped(tmp_path, spim_brain):
    dorsal = write_smartspim(tmp_path / "d", spim_brain, tiling=(1, 1), channels=("642",), stripes=False, flat=False)
    ventral = write_smartspim(
        tmp_path / "v", spim_brain, tiling=(1, 1), channels=("642",), stripes=False, flat=False, ventral_up=True
    )
    assert ventral.ventral_up and not dorsal.ventral_up
    n = dorsal.n_planes
    np.testing.assert_allclose(ventral.cells_xyz[:, 2], n - 1 - dorsal.cells_xyz[:, 2])
    front = read(dorsal.plane_path("642", 0, 0, 3)).astype(float)
    back = read(ventral.plane_path("642", 0, 0, n - 1 - 3)).astype(float)
    assert np.abs(front[:, ::-1] - back).mean() < 0.5 * np.abs(front - back).mean()


def test_wrong_channels_are_refused(tmp_path, spim_brain):
    with pytest.raises(ValueError):
        write_smartspim(tmp_path, spim_brain, channels=("647",))
    with pytest.raises(ValueError):
        write_smartspim(tmp_path, spim_brain, channels=("488", "488"))
