"""LaVision acquisitions: exact names, tiles at known offsets, two sheets with their own falloff, cells,
ventral-up, determinism."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lib.synth import channel_look, write_lavision
from lib.synth.optics import CAMERA_OFFSET, GAIN

from .helpers import lavision_canvas, lavision_problems, read

PREFIX = "10-50-16_UltraII_raw"


def test_a_tiled_two_sheet_two_channel_folder_holds_exactly_the_spec_names(tmp_path, brain):
    truth = write_lavision(
        tmp_path, brain, tiling=(2, 2), overlap=0.2, channels=("647", "488"), sheets=("left", "right"), prefix=PREFIX
    )
    names = {p.name for p in tmp_path.iterdir()}
    expected = {
        f"{PREFIX}_RawDataStack[{column:02d} x {row:02d}]_C{sheet:02d}_xyz-Table Z{z:04d}"
        f"_UltraII Filter{index:04d}.ome.tif"
        for column in range(2)
        for row in range(2)
        for sheet in range(2)
        for z in range(10)
        for index in range(2)
    }
    assert names == expected == {p.name for p in truth.files}
    assert "10-50-16_UltraII_raw_RawDataStack[01 x 00]_C01_xyz-Table Z0009_UltraII Filter0001.ome.tif" in names
    assert truth.filters == {"488": 0, "647": 1}
    assert truth.sheet_codes == {"left": "C00", "right": "C01"}
    assert truth.expected_names("647") == {n for n in names if n.endswith("Filter0001.ome.tif")}
    for index in (0, 1):
        assert lavision_problems(tmp_path, index, (2, 2), sheets=2, planes=10) == []
    plane = read(truth.files[0])
    assert plane.dtype == np.uint16 and plane.shape == truth.grid.tile_shape


def test_a_single_tile_acquisition_can_omit_the_bracket(tmp_path, brain):
    truth = write_lavision(
        tmp_path,
        brain,
        tiling=(1, 1),
        channels=("555",),
        sheets=("right",),
        prefix=PREFIX,
        omit_single_tile_bracket=True,
        n_planes=2,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "10-50-16_UltraII_raw_RawDataStack_C00_xyz-Table Z0000_UltraII Filter0000.ome.tif",
        "10-50-16_UltraII_raw_RawDataStack_C00_xyz-Table Z0001_UltraII Filter0000.ome.tif",
    ]
    assert truth.grid.tile_shape == brain.shape[1:]


def test_tile_overlaps_hold_the_same_content_at_the_known_offsets(tmp_path, brain):
    truth = write_lavision(
        tmp_path, brain, tiling=(2, 2), overlap=0.25, channels=("488",), sheets=("left",), jitter_px=2, noise_sigma=5
    )
    grid = truth.grid
    assert any((t.x, t.y) != (t.column * grid.step[0], t.row * grid.step[1]) for t in grid.tiles), "jitter applied"
    height, width = grid.tile_shape
    z = 5
    pairs = [
        (a, b)
        for a in grid.tiles
        for b in grid.tiles
        if (b.column, b.row) in ((a.column + 1, a.row), (a.column, a.row + 1))
    ]
    assert len(pairs) == 4
    for a, b in pairs:
        image_a = read(truth.path(a.column, a.row, "left", z, "488")).astype(float)
        image_b = read(truth.path(b.column, b.row, "left", z, "488")).astype(float)
        y0, y1 = max(a.y, b.y), min(a.y, b.y) + height
        x0, x1 = max(a.x, b.x), min(a.x, b.x) + width
        assert (y1 - y0) * (x1 - x0) > 50
        part_a = image_a[y0 - a.y : y1 - a.y, x0 - a.x : x1 - a.x]
        part_b = image_b[y0 - b.y : y1 - b.y, x0 - b.x : x1 - b.x]
        difference = part_a - part_b
        assert abs(difference.mean()) < 1.5 and difference.std() < 5 * np.sqrt(2) * 1.3  # noise only
        # One pixel off along the pair's axis is visibly wrong: the offsets are exact.
        dy, dx = (0, 1) if b.column > a.column else (1, 0)
        shifted = image_b[y0 - b.y + dy : y1 - b.y + dy, x0 - b.x + dx : x1 - b.x + dx]
        assert shifted.shape == part_a.shape
        assert np.abs(part_a - shifted).mean() > 2 * np.abs(difference).mean()


def test_each_sheet_lights_its_own_side_and_the_falloff_is_the_published_profile(tmp_path, brain):
    truth = write_lavision(tmp_path, brain, tiling=(1, 1), channels=("488",), sheets=("left", "right"), noise_sigma=0)
    z = 5
    left = read(truth.path(0, 0, "left", z, "488")).astype(float) - CAMERA_OFFSET
    right = read(truth.path(0, 0, "right", z, "488")).astype(float) - CAMERA_OFFSET
    third = left.shape[1] // 3
    assert left[:, :third].sum() > 1.5 * right[:, :third].sum()  # the left sheet lights the left side
    assert right[:, -third:].sum() > 1.5 * left[:, -third:].sum()  # and the right sheet the right side
    signal = brain.render(z, channel_look("488"))
    inside = signal > 0.2
    for sheet, image in (("left", left), ("right", right)):
        expected = GAIN * signal * truth.sheet_profile(sheet)[None, :]
        assert np.abs(image - expected)[inside].max() <= 0.51
    profile_left, profile_right = truth.sheet_profile("left"), truth.sheet_profile("right")
    assert profile_left[0] == pytest.approx(1.0) and profile_left[-1] < 0.5
    np.testing.assert_allclose(profile_left, profile_right[::-1])


def test_planted_cells_are_brighter_than_their_surroundings(tmp_path, cell_brain):
    truth = write_lavision(
        tmp_path, cell_brain, tiling=(2, 1), overlap=0.2, channels=("647",), sheets=("left", "right")
    )
    np.testing.assert_array_equal(truth.cells_xyz, cell_brain.cells_xyz)
    assert len(truth.cells_xyz) == 25
    for x, y, z in truth.cells_xyz.astype(int):
        canvas = lavision_canvas(truth, "right", "647", z)
        ring = np.concatenate(
            [
                canvas[y - 5, x - 5 : x + 6],
                canvas[y + 5, x - 5 : x + 6],
                canvas[y - 5 : y + 6, x - 5],
                canvas[y - 5 : y + 6, x + 5],
            ]
        )
        assert canvas[y, x] > ring.mean() + 300, (x, y, z)
        assert canvas[y, x] == canvas[y - 2 : y + 3, x - 2 : x + 3].max()


def test_ventral_up_data_is_its_own_folder_with_the_brain_flipped_along_x_and_z(tmp_path, brain):
    dorsal = write_lavision(
        tmp_path / "resolution_1.3x" / "Ex", brain, tiling=(1, 1), channels=("488",), sheets=("left",), noise_sigma=0
    )
    ventral = write_lavision(
        tmp_path / "resolution_1.3x_ventral_up" / "Ex",
        brain,
        tiling=(1, 1),
        channels=("488",),
        sheets=("left",),
        noise_sigma=0,
        ventral_up=True,
    )
    assert {p.name for p in ventral.files} == {p.name for p in dorsal.files}
    assert all(p.parent.parent.name == "resolution_1.3x_ventral_up" for p in ventral.files)
    n, width = dorsal.n_planes, brain.shape[2]
    expected_cells = np.column_stack(
        [width - 1 - dorsal.cells_xyz[:, 0], dorsal.cells_xyz[:, 1], n - 1 - dorsal.cells_xyz[:, 2]]
    )
    np.testing.assert_allclose(ventral.cells_xyz, expected_cells)
    profile = dorsal.sheet_profile("left")
    for z in (2, 4, 6):
        signal_dorsal = (read(dorsal.path(0, 0, "left", z, "488")) - CAMERA_OFFSET) / profile
        signal_ventral = (read(ventral.path(0, 0, "left", n - 1 - z, "488")) - CAMERA_OFFSET) / profile
        assert np.abs(signal_dorsal[:, ::-1] - signal_ventral).max() < 3  # equal up to rounding of the counts
        assert np.abs(signal_dorsal - signal_ventral).mean() > 20  # and genuinely flipped


def test_a_coarser_z_step_writes_fewer_planes_of_the_same_brain(tmp_path, brain):
    truth = write_lavision(tmp_path, brain, tiling=(1, 1), channels=("647",), sheets=("left",), z_step_um=20.0)
    assert truth.n_planes == 5 and len(truth.files) == 5
    np.testing.assert_allclose(truth.cells_xyz[:, 2], brain.cells_xyz[:, 2] / 2)


def digest(paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)]


def test_the_same_seed_writes_byte_identical_files_and_another_seed_does_not(tmp_path, brain):
    options = dict(tiling=(2, 1), overlap=0.2, channels=("488",), sheets=("left",), n_planes=3, jitter_px=1)
    first = write_lavision(tmp_path / "a", brain, **options)
    second = write_lavision(tmp_path / "b", brain, **options)
    other = write_lavision(tmp_path / "c", brain, seed=99, **options)
    assert [p.name for p in first.files] == [p.name for p in second.files]
    assert digest(first.files) == digest(second.files)
    assert first.prefix != other.prefix or digest(first.files) != digest(other.files)
    assert not np.array_equal(read(first.files[0]), read(other.files[0]))


def test_unknown_channels_are_refused(tmp_path, brain):
    with pytest.raises(ValueError):
        write_lavision(tmp_path, brain, channels=("642",))
