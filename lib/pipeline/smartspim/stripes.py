"""Stripe removal from one plane (used by the `destripe` stage). Two methods, chosen by the `method` option:

`shadow` (the default): stripes are shadows cast along the light sheet by absorbers in the sample. Each
darkens a thin band of rows by a factor that is nearly constant along the sheet from the absorber on.
In log space (factors become offsets), on the sample only (above half the Otsu threshold; the mask is
dilated across the stripes so that they do not punch holes in it):

1. thin dark lines: the log plane minus its grey closing across the stripes over `line_px` pixels (a
   closing fills dark valleys narrower than its window and keeps edges, gradients and bright structures);
2. per row, a robust profile along the stripes: medians of 8-pixel blocks, then the median of the most
   uniform of three `window_px` windows of blocks (before, around and after the block: an edge-preserving
   choice, so the profile keeps the step where a shadow starts); that median, shrunk towards 0 by half
   the window's median absolute deviation (texture varies along the row, a shadow does not), is the
   row's log darkening there;
3. the plane is divided by the darkening; steps 1-3 run twice (the second pass finds what the first
   pass's closing missed inside wide bands of shadows).

`wavelet`: the pystripe approach (Swaney et al. 2019), implemented here with PyWavelets and numpy: in
log space, a 2-D wavelet decomposition (`wavelet`, `level` levels, 0 = as deep as the plane allows); in
the detail coefficients that hold edges across the stripes, the Fourier components along the stripes are
damped by the Gaussian notch 1 - exp(-k² / 2s²) (k the frequency bin, s = sigma × coefficients ÷ pixels
along the stripes); then the inverse transform. `sigma` is [foreground, background]; when they differ,
both halves of the plane split at the Otsu threshold are filtered with their own width and blended.
It removes stripes whose mean across the band is 0 (bright and dark alternating); the mean of a shadow
stays in the approximation coefficients, so on shadows it removes only part of them (see the tests).

Both take a plane with the camera offset already subtracted (values >= 0) and stripes along axis 1
(`direction` "horizontal"; "vertical" planes are transposed first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pywt  # type: ignore[import-untyped]
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage  # type: ignore[import-untyped]
from skimage.filters import threshold_otsu

from ..errors import PipelineError

Image = npt.NDArray[np.float32]
METHODS = ("shadow", "wavelet")
DIRECTIONS = ("horizontal", "vertical")
BLOCK_PX = 8  # block length of the first median along the stripes (shadow)
MIN_BLOCKS = 1  # blocks on the sample a window needs to count
SHRINK = 0.5  # deviations by which the shadow estimate is shrunk towards 0
PASSES = 2
MASK_FRACTION = 0.5  # the sample mask: above this fraction of the Otsu threshold
LOG_FLOOR_FRACTION = 0.05  # log of values below this fraction of the Otsu threshold is clipped
ROWS_PER_CHUNK = 512  # rows processed together by the shadow estimate (bounds its memory)
CROSSOVER = 10.0  # counts over which the wavelet method blends foreground into background


@dataclass(frozen=True)
class StripeFilter:
    method: str = "shadow"
    horizontal: bool = True
    line_px: int = 9  # shadow: widest band of shadows removed, pixels across the stripes
    window_px: int = 136  # shadow: length of the profile window along the stripes, pixels
    sigma: tuple[float, float] = (256.0, 256.0)  # wavelet: notch width [foreground, background]
    level: int = 0  # wavelet: decomposition levels, 0 = as deep as possible
    wavelet: str = "db3"

    @classmethod
    def from_options(
        cls, options: dict[str, Any], *, sigma: tuple[float, float], level: int, wavelet: str
    ) -> StripeFilter:
        """From the document's `destripe` object (`sigma`, `level`, `wavelet` as parsed by DestripeParams)."""
        method = str(options.get("method", "shadow"))
        if method not in METHODS:
            raise PipelineError(f"destripe method must be one of {', '.join(METHODS)}, got {method!r}")
        direction = str(options.get("direction", "horizontal"))
        if direction not in DIRECTIONS:
            raise PipelineError(f"destripe direction must be horizontal or vertical, got {direction!r}")
        try:
            line_px = int(options.get("line_px", cls.line_px))
            window_px = int(options.get("window_px", cls.window_px))
        except (TypeError, ValueError) as exc:
            raise PipelineError("destripe line_px and window_px must be whole numbers of pixels") from exc
        if line_px < 3 or window_px < BLOCK_PX:
            raise PipelineError(f"destripe line_px must be at least 3 and window_px at least {BLOCK_PX}")
        if wavelet not in pywt.wavelist(kind="discrete"):
            raise PipelineError(f"{wavelet!r} is not a discrete wavelet known to PyWavelets")
        if level < 0 or any(not math.isfinite(s) or s < 0 for s in sigma):
            raise PipelineError("destripe level and sigma must not be negative")
        return cls(method, direction == "horizontal", line_px, window_px, sigma, level, wavelet)


def remove_stripes(image: Image, stripe_filter: StripeFilter) -> Image:
    """The destriped plane (float32, same shape) of an offset-free plane."""
    work = np.maximum(image, 0, dtype=np.float32)
    if not stripe_filter.horizontal:
        work = np.ascontiguousarray(work.T)
    if float(work.max()) <= float(work.min()):
        return work if stripe_filter.horizontal else np.ascontiguousarray(work.T)
    if stripe_filter.method == "shadow":
        out = _shadow(work, stripe_filter.line_px, stripe_filter.window_px)
    else:
        out = _wavelet(work, stripe_filter)
    return out if stripe_filter.horizontal else np.ascontiguousarray(out.T, dtype=np.float32)


# --- shadow ----------------------------------------------------------------------------------------------


def _otsu(image: Image) -> float:
    return float(threshold_otsu(image))  # type: ignore[no-untyped-call]


def _shadow(image: Image, line_px: int, window_px: int) -> Image:
    threshold = _otsu(image)
    if threshold <= 0:
        return image
    dilated = ndimage.grey_dilation(image, size=(line_px + 2, 1), mode="nearest")
    sample = np.asarray(dilated > MASK_FRACTION * threshold)
    log = np.log(np.maximum(image, np.float32(LOG_FLOOR_FRACTION * threshold)))
    darkening = np.zeros_like(log)
    for _ in range(PASSES):
        corrected = log - darkening
        dips = corrected - ndimage.grey_closing(corrected, size=(line_px, 1), mode="nearest")
        for start in range(0, image.shape[0], ROWS_PER_CHUNK):
            rows = slice(start, start + ROWS_PER_CHUNK)
            darkening[rows] += _row_profiles(dips[rows], sample[rows], window_px)
    out = image * np.exp(-darkening * sample)
    return np.asarray(out, dtype=np.float32)


def _nan_median(values: npt.NDArray[np.floating[Any]]) -> tuple[Image, npt.NDArray[np.intp]]:
    """Median over the last axis ignoring NaN (NaN where all are), and the count of values that are not."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=-1)
    ordered = np.sort(np.where(finite, values, np.inf), axis=-1)
    last = values.shape[-1] - 1
    lower = np.take_along_axis(ordered, np.clip((counts - 1) // 2, 0, last)[..., None], axis=-1)[..., 0]
    upper = np.take_along_axis(ordered, np.clip(counts // 2, 0, last)[..., None], axis=-1)[..., 0]
    median = np.where(counts > 0, (lower + upper) / 2, np.nan).astype(np.float32)
    return median, counts


def _row_profiles(dips: Image, sample: npt.NDArray[np.bool_], window_px: int) -> Image:
    """Per row, the robust log darkening along the stripes (<= 0), interpolated to every pixel.

    Medians of 8-pixel blocks; then, per block, three windows of blocks (centred on, ending at and starting
    at the block) and the median of the most uniform one (least mean absolute deviation), so the profile
    keeps the step where a shadow starts instead of smearing it. Off the sample there is no estimate (0);
    windows cut short by the sample's edge compete with the blocks they have."""
    height, width = dips.shape
    blocks = -(-width // BLOCK_PX)
    values = np.full((height, blocks * BLOCK_PX), np.nan, dtype=np.float32)
    values[:, :width] = np.where(sample, dips, np.nan)
    span = max(1, round((window_px / BLOCK_PX - 1) / 2))  # blocks each side of the centred window
    block, _ = _nan_median(values.reshape(height, blocks, BLOCK_PX))
    padded = np.pad(block, ((0, 0), (2 * span, 2 * span)), constant_values=np.nan)
    windows = sliding_window_view(padded, 2 * span + 1, axis=1)  # window j covers blocks j-2span..j
    medians, counts = _nan_median(windows)
    deviations = np.abs(windows - medians[..., None])
    spreads, _ = _nan_median(deviations)  # robust: for the shrinkage
    finite = np.isfinite(deviations)
    with np.errstate(invalid="ignore", divide="ignore"):  # windows off the sample: no estimate there
        mixing = np.where(finite, deviations, 0).sum(axis=2) / counts  # not robust: high across a step
    mixing = np.where(counts >= MIN_BLOCKS, mixing, np.inf)  # a window off the sample does not count
    choices = [slice(span, span + blocks), slice(0, blocks), slice(2 * span, 2 * span + blocks)]  # ties: centre
    mixing_of = np.stack([mixing[:, c] for c in choices])
    best = np.argmin(np.where(np.isfinite(mixing_of), mixing_of, np.inf), axis=0)[None]
    median = np.take_along_axis(np.stack([medians[:, c] for c in choices]), best, axis=0)[0]
    spread = np.take_along_axis(np.stack([spreads[:, c] for c in choices]), best, axis=0)[0]
    profile = np.where(np.isfinite(spread) & np.isfinite(median), np.minimum(median + SHRINK * spread, 0.0), 0.0)
    profile = profile.astype(np.float32)
    position = np.clip((np.arange(width) + 0.5) / BLOCK_PX - 0.5, 0, blocks - 1)
    left = np.floor(position).astype(int)
    right = np.minimum(left + 1, blocks - 1)
    weight = (position - left).astype(np.float32)
    return np.asarray(profile[:, left] * (1 - weight) + profile[:, right] * weight, dtype=np.float32)


# --- wavelet (pystripe) ----------------------------------------------------------------------------------


def _notch(coefficients: Image, width: float) -> Image:
    """Damp the low frequencies along axis 1 with a Gaussian notch `width` bins wide."""
    if width <= 0:
        return coefficients
    spectrum = np.fft.rfft(coefficients, axis=1)
    k = np.arange(spectrum.shape[1], dtype=np.float64)
    spectrum *= (1.0 - np.exp(-(k**2) / (2.0 * width**2))).astype(np.float32)
    return np.asarray(np.fft.irfft(spectrum, n=coefficients.shape[1], axis=1), dtype=np.float32)


def _wavelet_pass(image: Image, sigma: float, level: int, wavelet: str) -> Image:
    if sigma <= 0:
        return image
    height, width = image.shape
    decomposition = pywt.wavedec2(np.log1p(image), wavelet, level=level, mode="symmetric")
    filtered: list[Any] = [decomposition[0]]
    for across, along, diagonal in decomposition[1:]:
        filtered.append((_notch(across, sigma * across.shape[1] / width), along, diagonal))
    restored = pywt.waverec2(filtered, wavelet, mode="symmetric")[:height, :width]
    return np.asarray(np.expm1(restored), dtype=np.float32)


def _wavelet(image: Image, stripe_filter: StripeFilter) -> Image:
    max_level = pywt.dwt_max_level(min(image.shape), pywt.Wavelet(stripe_filter.wavelet).dec_len)
    level = min(stripe_filter.level, max_level) if stripe_filter.level else max_level
    if level < 1:
        return image
    foreground_sigma, background_sigma = stripe_filter.sigma
    if foreground_sigma == background_sigma:
        return _wavelet_pass(image, foreground_sigma, level, stripe_filter.wavelet)
    threshold = _otsu(image)
    foreground = _wavelet_pass(np.maximum(image, threshold), foreground_sigma, level, stripe_filter.wavelet)
    background = _wavelet_pass(np.minimum(image, threshold), background_sigma, level, stripe_filter.wavelet)
    fraction = (1.0 / (1.0 + np.exp(-(image - threshold) / CROSSOVER))).astype(np.float32)
    return np.asarray(foreground * fraction + background * (1.0 - fraction), dtype=np.float32)
