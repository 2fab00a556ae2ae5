"""Blending the left and right light-sheet images of one plane (the conventions are in the package
docstring)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .planes import FloatImage

#: sigmoid slope as a fraction of the plane width: the left weight goes from 0.98 to 0.02 over the
#: central fifth of the width (x_c ± 0.1·W = ± 4 slopes)
SIGMOID_SLOPE_FRACTION = 1 / 40
#: width of the central band compared by the intensity correction, as a fraction of the plane width
CORRECTION_BAND_FRACTION = 0.1
#: the percentile of a sheet's plane taken as its background (camera offset and dark signal)
BACKGROUND_PERCENTILE = 2.0
#: gains outside this range are clamped (a sheet that failed is not amplified without bound)
GAIN_LIMITS = (0.25, 4.0)


def left_weight(width: int, blendtype: str) -> FloatImage:
    """Weight of the left sheet in every column; the right sheet gets 1 − weight.

    sigmoidal: w(x) = 1 / (1 + exp((x − x_c) / s)), x_c = (W − 1) / 2, s = max(1, W / 40) pixels, so the
    left sheet (which enters at x = 0) dominates the left half and the right sheet the right half.
    flat: 0.5 everywhere (the average)."""
    if blendtype == "flat":
        return np.full(width, 0.5, dtype=np.float32)
    x = np.arange(width, dtype=np.float64)
    slope = max(1.0, width * SIGMOID_SLOPE_FRACTION)
    weight = 0.5 * (1.0 - np.tanh((x - (width - 1) / 2) / (2 * slope)))  # = the logistic, without overflow
    return weight.astype(np.float32)


def background(image: FloatImage) -> float:
    """A low percentile of the plane's pixels (on a 4 × 4 subsample, plenty for a percentile), leaving out
    zeros: the corners of a stitched canvas that no tile covers."""
    sample = image[::4, ::4]
    sample = sample[sample > 0]
    return float(np.percentile(sample, BACKGROUND_PERCENTILE)) if sample.size else 0.0


def sheet_gains(left: FloatImage, right: FloatImage) -> tuple[float, float]:
    """Gains that bring both sheets to the same brightness where they meet.

    Both sheets light the same tissue; in the central band (x_c ± 0.05·W), where the sigmoid hands over,
    a sheet's image is offset + illumination × tissue, so the ratio of the two sheets' standard deviations
    over the band is the ratio of their illuminations there, whatever the offset. The gains bring both to
    their geometric mean (keeping the overall brightness); a band without tissue gives a ratio near 1
    (noise alike in both), and gains are clamped to GAIN_LIMITS."""
    width = left.shape[1]
    half = max(1, round(width * CORRECTION_BAND_FRACTION / 2))
    centre = (width - 1) // 2
    band = slice(max(0, centre - half), min(width, centre + half + 1))
    spread_left, spread_right = float(np.std(left[:, band])), float(np.std(right[:, band]))
    if spread_left <= 0 or spread_right <= 0:
        return (1.0, 1.0)
    ratio = spread_left / spread_right  # left illumination / right illumination in the band
    low, high = GAIN_LIMITS
    return (min(high, max(low, ratio**-0.5)), min(high, max(low, ratio**0.5)))


def apply_gain(image: FloatImage, gain: float) -> FloatImage:
    """Scale the signal above the background (a low percentile of the plane: the camera offset where the
    plane shows some background beside the tissue), keeping the background level; zeros (no data) stay."""
    if gain == 1.0:
        return image
    level = background(image)
    scaled = level + (image - level) * np.float32(gain)
    return np.asarray(np.where(image > 0, scaled, 0), dtype=np.float32)


def blend_sheets(images: Mapping[str, FloatImage], blendtype: str, intensitycorrection: bool) -> FloatImage:
    """One plane from the images of its sheets ("left", "right"); one sheet is returned as it is."""
    if len(images) == 1:
        return next(iter(images.values()))
    left, right = images["left"], images["right"]
    if left.shape != right.shape:
        raise ValueError(f"the sheets' planes differ in shape: {left.shape} and {right.shape}")
    if intensitycorrection:
        gain_left, gain_right = sheet_gains(left, right)
        left, right = apply_gain(left, gain_left), apply_gain(right, gain_right)
    weight = left_weight(left.shape[1], blendtype)[None, :]
    return np.asarray(weight * left + (1 - weight) * right, dtype=np.float32)
