"""The `destripe` stage: flat-field division and stripe removal of stitched planes.

Per plane: the camera offset `dark` is subtracted (values below it become 0), the plane is divided by the
flat field, stripes are removed (`stripes.py`), and the result is rounded and clipped to 16 bits. The
output holds no camera offset.

The flat field (`flat_path`, float, the size of the stitched plane; within 1 % of it, it is resampled) is
divided by its 99.9th percentile, so the brightest part of the field keeps its intensity, and floored at
`FLAT_FLOOR`. A document without
`flat_path` skips the division; a named file that does not exist is bad input ("Flat-field file <name>
was not found in <folder>.").

Options (the document's `destripe` object): `method` ("shadow", the default, or "wavelet"), `line_px`
and `window_px` (shadow), `sigma` [foreground, background], `level` and `wavelet` (wavelet, pystripe's
meaning), `dark` (camera offset in counts, default 0) and `direction` ("horizontal": stripes run along x,
the SmartSPIM light sheet; or "vertical").

Tasks: the planes `plane_<zzzz>.tif` of `input_dir`, in z order, are cut into chunks of
`planes_per_array_task`; task k of n does chunks k, k + n, k + 2n, ... Each plane keeps its name in
`output_dir`. Memory: about ten plane-sized float32 buffers (one plane at a time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage  # type: ignore[import-untyped]

from ..errors import PipelineError
from ..params import DestripeParams
from .files import read_image, to_uint16, write_plane
from .stripes import Image, StripeFilter, remove_stripes

PLANE_RE = re.compile(r"^plane_(?P<z>\d{4,})\.tif$")
FLAT_FLOOR = 0.05
FLAT_PERCENTILE = 99.9
FLAT_SIZE_TOLERANCE = 0.01  # relative size difference of flat field and planes that is resampled


def read_flat(path: Path) -> Image:
    """The normalised flat field: 1 at its bright end (99.9th percentile), floored at FLAT_FLOOR."""
    if not path.is_file():
        raise PipelineError(f"Flat-field file {path.name} was not found in {path.parent}.")
    flat = read_image(path).astype(np.float32)
    finite = flat[np.isfinite(flat)]
    top = float(np.percentile(finite, FLAT_PERCENTILE)) if finite.size else 0.0
    if top <= 0:
        raise PipelineError(f"the flat-field image {path} holds no positive values")
    flat = np.nan_to_num(flat / np.float32(top), nan=FLAT_FLOOR, posinf=1.0, neginf=FLAT_FLOOR)
    return np.asarray(np.maximum(flat, np.float32(FLAT_FLOOR)), dtype=np.float32)


def fit_flat(flat: Image, shape: tuple[int, ...]) -> Image:
    """The flat field at the planes' size. Stitched canvases of one sample differ by a pixel or two with
    the placement, so a flat field within `FLAT_SIZE_TOLERANCE` of the plane size is resampled (it is
    smooth); a larger difference means the wrong file (a tile-sized flat field, another sample)."""
    if flat.shape == shape:
        return flat
    if len(shape) != 2 or any(abs(f - p) > FLAT_SIZE_TOLERANCE * p for f, p in zip(flat.shape, shape, strict=True)):
        raise PipelineError(
            f"the flat-field image is {flat.shape[0]} x {flat.shape[1]} pixels but the planes are "
            f"{shape[0]} x {shape[1]}"
        )
    factors = (shape[0] / flat.shape[0], shape[1] / flat.shape[1])
    resized = ndimage.zoom(flat, factors, order=1, mode="nearest", grid_mode=True)
    return np.asarray(resized[: shape[0], : shape[1]], dtype=np.float32)


def correct_plane(plane: npt.NDArray[Any], stripe_filter: StripeFilter, flat: Image | None, dark: float) -> Image:
    """Offset subtraction, flat-field division and stripe removal of one plane (float32, not rounded)."""
    image = np.maximum(plane.astype(np.float32) - np.float32(dark), np.float32(0))
    if flat is not None:
        image = image / fit_flat(flat, image.shape)
    return remove_stripes(image, stripe_filter)


def list_planes(folder: Path) -> list[Path]:
    """`plane_<zzzz>.tif` files of a folder in z order."""
    if not folder.is_dir():
        raise PipelineError(f"the stitched plane folder {folder} does not exist: run the stitching first")
    found = [(int(m["z"]), entry) for entry in folder.iterdir() if (m := PLANE_RE.match(entry.name))]
    if not found:
        raise PipelineError(f"the stitched plane folder {folder} holds no plane_<zzzz>.tif files")
    return [path for _, path in sorted(found)]


def task_planes(planes: list[Path], per_task: int, task_index: int, task_count: int) -> list[Path]:
    chunks = [planes[start : start + per_task] for start in range(0, len(planes), per_task)]
    return [path for chunk in chunks[task_index::task_count] for path in chunk]


def stripe_filter_of(params: DestripeParams) -> tuple[StripeFilter, float]:
    """The stripe filter and camera offset of a destriping document."""
    options = params.document.get("destripe") or {}
    if not isinstance(options, dict):
        raise PipelineError("destripe options must be a JSON object")
    try:
        dark = float(options.get("dark", 0.0))
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"destripe dark must be a number, got {options.get('dark')!r}") from exc
    stripe_filter = StripeFilter.from_options(options, sigma=params.sigma, level=params.level, wavelet=params.wavelet)
    return stripe_filter, dark


def destripe_planes(
    params: DestripeParams, task_index: int, task_count: int, *, on_plane: Callable[[Path], None] | None = None
) -> int:
    """Correct this task's planes; returns how many were written."""
    stripe_filter, dark = stripe_filter_of(params)
    planes = list_planes(params.input_dir)
    flat = read_flat(params.flat_path) if params.flat_path is not None else None
    mine = task_planes(planes, params.planes_per_array_task, task_index, task_count)
    if mine:
        params.output_dir.mkdir(parents=True, exist_ok=True)
    for path in mine:
        plane = read_image(path)
        if flat is not None:
            flat = fit_flat(flat, plane.shape)  # once: the planes of a run share one size
        corrected = correct_plane(plane, stripe_filter, flat, dark)
        write_plane(params.output_dir / path.name, to_uint16(corrected))
        if on_plane is not None:
            on_plane(path)
    return len(mine)
