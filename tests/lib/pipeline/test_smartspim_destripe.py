"""SmartSPIM destriping: stripe removal measured against the stripe-free truth, flat-field division, plane
chunks of the array tasks, and bad input. No database, no app.

Stripe energy = sum over the plane of (log(corrected / truth))²: the residual of the multiplicative stripe
pattern (before correction it is the sum of (log stripe factor)²), so a stripe removed to within 30 % of its
depth keeps about 10 % of its energy.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from lib.pipeline.errors import PipelineError
from lib.pipeline.layout import plane_name
from lib.pipeline.params import DestripeParams
from lib.pipeline.smartspim import RUNNERS, StripeFilter, remove_stripes
from lib.pipeline.smartspim.destripe import correct_plane, task_planes
from lib.synth import channel_look, make_brain
from lib.synth.optics import CAMERA_OFFSET, GAIN, StripePattern, flat_field, make_stripes

SHAPE = (128, 160)


def stripe_energy(image: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sum(np.log(np.maximum(image, 1e-3) / np.maximum(truth, 1e-3)) ** 2))


def tissue_texture(seed: int) -> np.ndarray:
    """Tissue filling the plane: smooth blotches of +-30 % around 1000 counts."""
    rng = np.random.default_rng([seed, 1])
    return (1000 * (1 + 2.4 * ndimage.gaussian_filter(rng.normal(size=SHAPE), 8))).astype(np.float32)


def inner_stripes(seed: int) -> StripePattern:
    """The synthetic microscope's shadows (starting anywhere along x), those clear of the plane's top and
    bottom edge: a band of shadow along the edge has no bright tissue beyond it and looks like a dark edge."""
    stripes = make_stripes(SHAPE, np.random.default_rng([seed, 2]))
    return StripePattern(tuple(s for s in stripes.stripes if 8 <= s.y <= SHAPE[0] - 8))


def test_shadow_stripes_across_tissue_lose_at_least_90_percent_of_their_energy():
    before = after = 0.0
    for seed in range(8):
        truth = tissue_texture(seed)
        factor = inner_stripes(seed).factor((0, SHAPE[0]), (0, SHAPE[1]))
        striped = truth * factor
        destriped = remove_stripes(striped, StripeFilter())
        plane_before, plane_after = stripe_energy(striped, truth), stripe_energy(destriped, truth)
        assert plane_after <= 0.2 * plane_before, (seed, plane_before, plane_after)  # every plane: 80 % or more
        before, after = before + plane_before, after + plane_after
        # the rest of the image stays where it was: rows without a stripe barely move
        clear_rows = np.all(factor > 0.999, axis=1)
        change = np.abs(destriped[clear_rows] / truth[clear_rows] - 1)
        assert clear_rows.sum() > 80 and change.mean() < 0.002 and np.percentile(change, 99) < 0.03
        # with camera noise, the corrected plane is much closer to the truth than the striped one
        noisy = striped + np.random.default_rng(seed).normal(0, 10, SHAPE).astype(np.float32)
        assert np.abs(remove_stripes(noisy, StripeFilter()) - truth).mean() < 0.7 * np.abs(noisy - truth).mean()
    assert after <= 0.1 * before, (before, after)  # all planes together: 90 % or more


def test_on_synthetic_brain_planes_shadow_destriping_helps_but_less_than_across_uniform_tissue():
    """The synthetic brains are small (160 x 200 px), so their blotchy texture and cells sit at the scale
    of the stripes and the tissue's edges cut the stripes short: measured 40-90 % of the stripe energy
    removed, 0 % on one plane in eight (docs in the stage report). This pins the average."""
    removed, error_ratio = [], []
    for seed in range(2, 8):
        brain = make_brain((6, 160, 200), seed=seed, voxel_size_um=(1.866, 1.866, 2.0), n_cells=40)
        truth = GAIN * brain.render(3, channel_look("488"))
        factor = make_stripes(truth.shape, np.random.default_rng(seed + 2)).factor((0, 160), (0, 200))
        striped = (truth * factor).astype(np.float32)
        destriped = remove_stripes(striped, StripeFilter())
        tissue = truth > 0.1 * truth.max()
        removed.append(
            1 - stripe_energy(destriped[tissue], truth[tissue]) / stripe_energy(striped[tissue], truth[tissue])
        )
        error_ratio.append(np.abs(destriped - truth)[tissue].mean() / np.abs(striped - truth)[tissue].mean())
    assert np.mean(removed) >= 0.45 and min(removed) > 0
    assert np.mean(error_ratio) < 0.9


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_the_wavelet_method_removes_full_width_stripes_that_are_bright_and_dark_in_turn(seed):
    """pystripe's notch works on stripes whose mean across the band is 0; on one-sided shadows it leaves
    their mean in the approximation coefficients (hence `shadow` is the default)."""
    rng = np.random.default_rng(seed)
    truth = tissue_texture(seed + 10)
    rows = np.arange(SHAPE[0], dtype=np.float64)[:, None]
    log_factor = np.zeros((SHAPE[0], 1))
    for _ in range(6):
        y0, depth, width = rng.uniform(5, SHAPE[0] - 5), rng.uniform(0.1, 0.3), rng.uniform(0.8, 1.5)
        log_factor += depth * (y0 - rows) / width * np.exp(-((rows - y0) ** 2) / (2 * width**2))
    striped = (truth * np.exp(log_factor)).astype(np.float32)
    destriped = remove_stripes(striped, StripeFilter(method="wavelet", sigma=(8.0, 8.0), level=0))
    assert stripe_energy(destriped, truth) <= 0.15 * stripe_energy(striped, truth)


def test_vertical_stripes_are_removed_when_the_direction_says_so():
    truth = tissue_texture(5)
    factor = inner_stripes(5).factor((0, SHAPE[0]), (0, SHAPE[1]))
    striped = np.ascontiguousarray((truth * factor).T)
    destriped = remove_stripes(striped, StripeFilter(horizontal=False))
    assert stripe_energy(destriped, truth.T) <= 0.2 * stripe_energy(striped, truth.T)
    assert stripe_energy(remove_stripes(striped, StripeFilter()), truth.T) > 0.5 * stripe_energy(striped, truth.T)


def destripe_document(tmp_path, **changes) -> dict:
    document = {
        "run_id": 9,
        "data_root": str(tmp_path),
        "input_dir": str(tmp_path / "Ex_642_Em_2_stitched"),
        "output_dir": str(tmp_path / "Ex_642_Em_2_corrected"),
        "flat_path": str(tmp_path / "Ex_642_Em_2_stitched" / "flat.tiff"),
        "destripe": {"sigma": [256.0, 256.0], "level": 0, "wavelet": "db3", "dark": CAMERA_OFFSET},
        "planes_per_array_task": 2,
    }
    return document | changes


def test_flat_field_division_flattens_the_vignetting(tmp_path):
    stitched = tmp_path / "Ex_642_Em_2_stitched"
    stitched.mkdir()
    flat = flat_field(SHAPE, (0, SHAPE[0]), (0, SHAPE[1]))  # 1 at its brightest, about 0.6 in a corner
    tifffile.imwrite(stitched / "flat.tiff", (0.8 * flat).astype(np.float32))  # any scale: it is normalised
    noise = np.random.default_rng(3).normal(0, 5, SHAPE)
    raw = np.rint(CAMERA_OFFSET + 1500 * flat + noise).astype(np.uint16)  # a uniform sample, vignetted
    for z in range(3):
        tifffile.imwrite(stitched / plane_name(z), raw)
    line = RUNNERS["destripe"](destripe_document(tmp_path), 0, 1)
    assert line.startswith("3 planes destriped")
    corrected = tifffile.imread(tmp_path / "Ex_642_Em_2_corrected" / plane_name(1)).astype(float)
    raw_signal = raw.astype(float) - CAMERA_OFFSET
    assert raw_signal.std() / raw_signal.mean() > 0.07  # vignetted: 7 % spread
    assert corrected.std() / corrected.mean() < 0.01  # flat: within the noise
    assert abs(corrected.mean() - 1500) < 15  # the brightest part of the field keeps its intensity


def test_a_missing_flat_field_file_names_the_file_and_the_folder(tmp_path):
    stitched = tmp_path / "Ex_642_Em_2_stitched"
    stitched.mkdir()
    tifffile.imwrite(stitched / plane_name(0), np.full(SHAPE, 500, np.uint16))
    with pytest.raises(PipelineError) as error:
        RUNNERS["destripe"](destripe_document(tmp_path), 0, 1)
    assert str(error.value) == f"Flat-field file flat.tiff was not found in {stitched}."
    tifffile.imwrite(stitched / "flat.tiff", np.ones((10, 10), np.float32))  # a tile's flat field, say
    with pytest.raises(PipelineError, match="flat-field image is 10 x 10 pixels but the planes are 128 x 160"):
        RUNNERS["destripe"](destripe_document(tmp_path), 0, 1)
    tifffile.imwrite(stitched / "flat.tiff", np.ones((128, 161), np.float32))  # a canvas a pixel wider: resampled
    assert RUNNERS["destripe"](destripe_document(tmp_path), 0, 1).startswith("1 planes destriped")
    with pytest.raises(PipelineError, match="destripe method must be one of shadow, wavelet"):
        RUNNERS["destripe"](destripe_document(tmp_path, destripe={"method": "pystripe"}), 0, 1)
    with pytest.raises(PipelineError, match="holds no plane_<zzzz>.tif files"):
        RUNNERS["destripe"](destripe_document(tmp_path, input_dir=str(tmp_path)), 0, 1)


def test_array_tasks_share_the_planes_in_chunks_and_a_plane_without_flat_is_only_destriped(tmp_path):
    planes = [tmp_path / plane_name(z) for z in range(7)]
    shares = [task_planes(planes, 2, k, 3) for k in range(3)]
    assert shares[0] == planes[0:2] + planes[6:7] and shares[1] == planes[2:4] and shares[2] == planes[4:6]
    assert task_planes(planes, 50, 1, 2) == []
    params = DestripeParams.from_document(destripe_document(tmp_path, flat_path=None))
    plane = np.full(SHAPE, 600, np.uint16)
    corrected = correct_plane(plane, StripeFilter(), None, 100.0)
    assert params.flat_path is None and np.allclose(corrected, 500)
