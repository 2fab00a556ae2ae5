"""LaVision planes against synthetic ground truth, in process: raw listing, setup's refusals, tile
placement, fusion, sheet blending, intensity correction and resizing."""

from __future__ import annotations

import numpy as np
import pytest

from lib.pipeline.errors import PipelineError
from lib.pipeline.lavision.placement import PairOffset, nominal_positions, place_tiles, solve_positions
from lib.pipeline.lavision.planes import block_mean
from lib.pipeline.lavision.raw import list_channel
from lib.pipeline.lavision.setup import run_setup
from lib.pipeline.lavision.sheets import blend_sheets, left_weight, sheet_gains
from lib.pipeline.lavision.stitch import feather_weight, fuse_plane, projection_images, run_stitch, sample_planes
from lib.pipeline.layout import full_size_dir
from lib.pipeline.params import LavisionParams
from lib.synth import make_brain, write_lavision

from .lavision_data import (
    correlation,
    flatness,
    illumination_profile,
    lavision_document,
    true_sheet_plane,
    true_signal,
)

SHEETS = ("left", "right")


@pytest.fixture(scope="module")
def brain():
    """12 planes of 96 x 128 pixels, 30 cells."""
    return make_brain((12, 96, 128), seed=3, n_cells=30)


@pytest.fixture(scope="module")
def single_tile(tmp_path_factory, brain):
    return write_lavision(tmp_path_factory.mktemp("raw") / "Ex_488", brain, tiling=(1, 1), channels=("488",))


def tile_images(truth):
    """The raw channel, its tiles, and the per-tile projections the placement is computed from."""
    raw = list_channel(truth.out_dir, truth.filters["488"], SHEETS)
    tiles = sorted((t.column, t.row) for t in truth.grid.tiles)
    return raw, tiles, projection_images(raw, tiles, SHEETS, sample_planes(truth.n_planes))


def relative(positions):
    x0, y0 = positions[(0, 0)]
    return {tile: (x - x0, y - y0) for tile, (x, y) in positions.items()}


# ---- raw files and setup ------------------------------------------------------------------------------


def test_raw_listing_finds_each_tile_sheet_and_plane_of_one_channel(tmp_path, brain):
    truth = write_lavision(tmp_path, brain, tiling=(2, 1), overlap=0.2, channels=("488", "647"), n_planes=3)
    raw = list_channel(tmp_path, 1, SHEETS)
    assert len(raw.files) == 2 * 1 * 2 * 3
    assert raw.path(1, 0, "right", 2) == truth.path(1, 0, "right", 2, "647")
    assert raw.missing((2, 1), 3) == []
    assert raw.read(0, 0, "left", 1).shape == truth.grid.tile_shape
    with pytest.raises(PipelineError, match="no raw file"):
        raw.path(2, 0, "left", 0)


def test_a_single_right_sheet_is_read_from_the_c00_files(tmp_path, brain):
    truth = write_lavision(tmp_path, brain, tiling=(1, 1), channels=("555",), sheets=("right",), n_planes=2)
    raw = list_channel(tmp_path, 0, ("right",))
    assert raw.path(0, 0, "right", 1) == truth.path(0, 0, "right", 1, "555")
    assert "_C00_" in raw.path(0, 0, "right", 1).name


def test_setup_refuses_a_folder_with_a_missing_plane_and_says_what_is_missing(tmp_path, brain):
    truth = write_lavision(tmp_path / "Ex_488", brain, tiling=(1, 1), channels=("488",), n_planes=4)
    truth.path(0, 0, "right", 3, "488").unlink()
    document = lavision_document(tmp_path / "out", truth)
    with pytest.raises(PipelineError) as caught:
        run_setup(document, 0, 1)
    message = str(caught.value)
    assert "expected 8 files (1x1 tiles x 2 sheet(s) x 4 planes), found 7" in message
    assert "tile [00 x 00] sheet right (C01) plane Z0003" in message
    assert not (tmp_path / "out").exists(), "nothing is created for incomplete input"


def test_setup_refuses_a_raw_folder_that_does_not_exist(tmp_path, single_tile):
    document = lavision_document(
        tmp_path / "out", single_tile, inputdictionary={str(tmp_path / "nope"): [["regch", "00"]]}
    )
    with pytest.raises(PipelineError, match="raw data folder.*not found"):
        run_setup(document, 0, 1)


# ---- stitching ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_stitching_recovers_jittered_tile_offsets_within_one_pixel(tmp_path, brain, seed):
    truth = write_lavision(
        tmp_path, brain, tiling=(2, 2), overlap=0.2, channels=("488",), jitter_px=5, seed=seed, noise_sigma=20
    )
    _, _, images = tile_images(truth)
    placement = place_tiles(images, (2, 2), 0.2)
    true = relative({(t.column, t.row): (t.x, t.y) for t in truth.grid.tiles})
    nominal = nominal_positions((2, 2), truth.grid.tile_shape, 0.2)
    assert max(abs(np.subtract(true[k], nominal[k])).max() for k in true) > 1, "the nominal grid is wrong"
    found = relative(placement.positions)
    assert all(abs(np.subtract(found[k], true[k])).max() <= 1 for k in true), (found, true)
    assert placement.canvas_shape == pytest.approx(truth.grid.canvas_shape, abs=1)


def test_the_global_solve_drops_an_inconsistent_pair_and_keeps_unmeasured_tiles_nominal():
    truth = {(0, 0): (0, 0), (1, 0): (58, 2), (0, 1): (-1, 44), (1, 1): (57, 47), (2, 0): (120, 0), (2, 1): (119, 45)}

    def pair(a, b, measured=True, wrong=(0, 0)):
        nominal = (60.0 * (b[0] - a[0]), 45.0 * (b[1] - a[1]))
        offset = (truth[b][0] - truth[a][0] + wrong[0], truth[b][1] - truth[a][1] + wrong[1])
        return PairOffset(a, b, nominal, offset if measured else None, 0.9 if measured else 0.0, False)

    pairs = [
        pair((0, 0), (1, 0)),
        pair((0, 1), (1, 1)),
        pair((0, 0), (0, 1)),
        pair((1, 0), (1, 1), wrong=(9, -6)),  # a false match
        pair((1, 0), (2, 0), measured=False),
        pair((1, 1), (2, 1), measured=False),
        pair((2, 0), (2, 1), measured=False),
    ]
    tiles = sorted(truth)
    positions, used = solve_positions(tiles, pairs)
    assert [p.used for p in used] == [True, True, True, False, False, False, False]
    for tile in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        assert np.allclose(positions[tile], truth[tile], atol=0.05)
    # the unmeasured column sits at nominal offsets from its neighbours (in the least-squares sense)
    assert 117 - 0.05 <= positions[(2, 0)][0] <= 118 + 0.05 and 117 - 0.05 <= positions[(2, 1)][0] <= 118 + 0.05
    assert positions[(2, 1)][1] - positions[(2, 0)][1] == pytest.approx(45, abs=1)


def test_a_stitched_sheet_plane_matches_the_truth_canvas(tmp_path, brain):
    truth = write_lavision(tmp_path, brain, tiling=(2, 2), overlap=0.2, channels=("488",), jitter_px=4, seed=9)
    raw, tiles, images = tile_images(truth)
    placement = place_tiles(images, (2, 2), 0.2)
    weight = feather_weight(placement.tile_shape, (2, 2), 0.2)
    z = 6
    stitched = fuse_plane({t: raw.read(*t, "left", z) for t in tiles}, placement, weight)
    expected = true_sheet_plane(brain, truth, "488", "left", z)
    assert stitched.shape == expected.shape
    assert correlation(stitched, expected) > 0.995
    assert np.median(np.abs(stitched - expected)) < 2 * truth.noise_sigma
    nominal = type(placement)(placement.tile_shape, nominal_positions((2, 2), placement.tile_shape, 0.2))
    misplaced = fuse_plane({t: raw.read(*t, "left", z) for t in tiles}, nominal, weight)
    height, width = (min(a, b) for a, b in zip(misplaced.shape, expected.shape, strict=True))
    assert correlation(misplaced[:height, :width], expected[:height, :width]) < correlation(stitched, expected)


def test_stitch_makes_its_own_output_folders_and_refuses_single_tile_data(tmp_path, brain, single_tile):
    truth = write_lavision(tmp_path / "Ex_488", brain, tiling=(2, 1), overlap=0.25, channels=("488",), n_planes=3)
    document = lavision_document(tmp_path / "out", truth)
    assert run_stitch(document, 0, 1).startswith("stitched 3 planes: ch00")
    params = LavisionParams.from_document(document)
    assert len(list(full_size_dir(params.output_dir, params.channels[0]).glob("plane_*.tif"))) == 3
    with pytest.raises(PipelineError, match="stitch is for tiled data"):
        run_stitch(lavision_document(tmp_path / "out1", single_tile), 0, 1)


def test_feathered_weights_blend_overlaps_linearly_and_keep_single_tile_edges():
    weight = feather_weight((20, 40), (2, 1), 0.25)
    assert weight.shape == (20, 40)
    assert np.all(weight[:, 10:30] == 1.0), "inside the tile"
    assert np.all(np.diff(weight[0, :10]) > 0) and weight[0, 0] < 0.1, "falls off at the shared edges"
    assert np.all(weight[:, 5] == weight[0, 5]), "no fall-off along the axis with one tile"


# ---- sheets, resizing ---------------------------------------------------------------------------------


def test_sigmoidal_blending_flattens_the_sheet_falloff(brain, single_tile):
    z = 6
    signal = true_signal(brain, single_tile, "488", z)
    raw = list_channel(single_tile.out_dir, 0, SHEETS)
    planes = {sheet: raw.read(0, 0, sheet, z) for sheet in SHEETS}
    blended = blend_sheets(planes, "sigmoidal", True)
    spread = {sheet: flatness(illumination_profile(planes[sheet], signal)) for sheet in SHEETS}
    spread["blended"] = flatness(illumination_profile(blended, signal))
    assert spread["blended"] < 0.75 * min(spread["left"], spread["right"]), spread
    profiles = {sheet: illumination_profile(planes[sheet], signal) for sheet in SHEETS}
    blended_profile = illumination_profile(blended, signal)
    assert blended_profile.min() > 1.2 * max(profile.min() for profile in profiles.values()), "no dark side"


def test_the_sigmoid_hands_over_from_the_left_to_the_right_sheet_at_the_centre():
    weight = left_weight(101, "sigmoidal")
    assert weight[0] > 0.999 and weight[-1] < 0.001 and weight[50] == pytest.approx(0.5)
    assert np.all(np.diff(weight) <= 0) and np.all(np.diff(weight[30:71]) < 0)
    assert weight[50 - 10] > 0.98 and weight[50 + 10] < 0.02
    assert np.all(left_weight(101, "flat") == 0.5)


def test_flat_blending_is_the_average_of_the_sheets():
    rng = np.random.default_rng(0)
    left, right = (rng.uniform(100, 3000, (30, 40)).astype(np.float32) for _ in range(2))
    blended = blend_sheets({"left": left, "right": right}, "flat", False)
    assert np.allclose(blended, (left + right) / 2)
    assert blend_sheets({"left": left}, "sigmoidal", True) is left, "one sheet: no blending"


def test_intensity_correction_evens_out_a_weaker_sheet():
    rng = np.random.default_rng(1)
    tissue = np.zeros((80, 200), dtype=np.float32)
    tissue[15:65, 10:190] = rng.uniform(500, 1500, (50, 180))  # tissue, with dark background around it
    noise = lambda: rng.normal(0, 5, tissue.shape).astype(np.float32)  # noqa: E731
    left, right = 100 + tissue + noise(), 100 + 0.5 * tissue + noise()  # the right laser gives half the power
    gain_left, gain_right = sheet_gains(left, right)
    assert gain_right / gain_left == pytest.approx(2.0, rel=0.02)
    assert gain_left * gain_right == pytest.approx(1.0, rel=1e-6), "the overall brightness is kept"
    corrected = blend_sheets({"left": left, "right": right}, "sigmoidal", True)
    uncorrected = blend_sheets({"left": left, "right": right}, "sigmoidal", False)
    halves = lambda image: (image[15:65, 150:190] - 100).mean() / (image[15:65, 10:50] - 100).mean()  # noqa: E731
    assert halves(uncorrected) == pytest.approx(0.5, rel=0.05)
    assert halves(corrected) == pytest.approx(1.0, rel=0.05)
    assert abs(corrected[:10].mean() - 100) < 3, "the background stays where it was"
    assert sheet_gains(left, left) == (1.0, 1.0)


def test_resized_planes_are_area_averages():
    image = np.arange(7 * 8, dtype=np.float32).reshape(7, 8)
    small = block_mean(image, 3)
    assert small.shape == (3, 3)
    assert small[0, 0] == pytest.approx(image[:3, :3].mean())
    assert small[2, 2] == pytest.approx(image[6:, 6:].mean()), "a partial block averages what it has"
    even = np.random.default_rng(2).uniform(0, 1000, (30, 45)).astype(np.float32)
    assert block_mean(even, 5).mean() == pytest.approx(even.mean(), rel=1e-5)
