"""TIFF input: a folder of single-plane TIFFs (one per z, sorted by the numbers in their names) or one
multi-page TIFF (pages = z). Planes are read a slab at a time, so memory holds one slab, never the
volume. Arrays come out in precomputed axis order x, y, z (Fortran order, planes transposed).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from .errors import ConversionError
from .params import Vec3

TIFF_SUFFIXES = (".tif", ".tiff")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list[Any]:
    """`Z2` before `Z10`: digits compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def plane_files(folder: Path) -> list[Path]:
    files = [
        p for p in folder.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and not p.name.startswith(".")
    ]  # fmt: skip
    return sorted(files, key=lambda p: natural_key(p.name))


def cast_plane(plane: npt.NDArray[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """Values as they are; a value the layer type cannot hold is clipped to its range."""
    if plane.dtype == dtype:
        return plane
    if np.can_cast(plane.dtype, dtype, "safe"):
        return plane.astype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if np.issubdtype(plane.dtype, np.floating):
            plane = np.rint(plane)
        clipped: npt.NDArray[Any] = np.clip(plane, info.min, info.max)
        return clipped.astype(dtype)
    return plane.astype(dtype)


class TiffStack:
    """The input volume. `shape` is (x, y, z); `read_slab` returns planes [z0, z1) as an x, y, z array.
    A multi-page file stays open between slabs (its page index is parsed once); use as a context manager
    or call `close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._volume: tifffile.TiffFile | None = None
        if path.is_dir():
            self.files: list[Path] | None = plane_files(path)
            if not self.files:
                raise ConversionError(f"the input folder {path} contains no .tif/.tiff planes")
            rows, cols = self._plane_shape(self.files[0])
            depth = len(self.files)
        elif path.is_file():
            self.files = None
            rows, cols, depth = self._volume_shape(path)
        else:
            raise ConversionError(f"the input {path} does not exist")
        self.shape: Vec3 = (cols, rows, depth)

    def __enter__(self) -> TiffStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._volume is not None:
            self._volume.close()
            self._volume = None

    def check_all_planes(self) -> None:
        """Read every plane's header and refuse a folder whose planes differ in shape (info stage)."""
        for file in self.files or []:
            self._check(file, self._plane_shape(file))

    def read_slab(self, z0: int, z1: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        x, y, _ = self.shape
        out = np.empty((x, y, z1 - z0), dtype=dtype, order="F")
        if self.files is not None:
            for i, file in enumerate(self.files[z0:z1]):
                plane = self._read_plane(file)
                self._check(file, plane.shape)
                out[:, :, i] = cast_plane(plane, dtype).T
        else:
            try:
                if self._volume is None:
                    self._volume = tifffile.TiffFile(self.path)
                planes = np.asarray(self._volume.asarray(key=range(z0, z1), series=0))
            except (OSError, ValueError, IndexError, tifffile.TiffFileError) as exc:
                raise ConversionError(f"cannot read planes {z0}-{z1 - 1} of {self.path}: {exc}") from exc
            planes = planes.reshape((z1 - z0, y, x))
            for i in range(z1 - z0):
                out[:, :, i] = cast_plane(planes[i], dtype).T
        return out

    def _check(self, file: Path, shape: tuple[int, ...]) -> None:
        if tuple(shape) != (self.shape[1], self.shape[0]):
            raise ConversionError(
                f"plane {file.name} is {shape[0]}x{shape[1]} (rows x columns) but the first plane "
                f"is {self.shape[1]}x{self.shape[0]}; all planes of a stack must have one shape"
            )

    @staticmethod
    def _plane_shape(file: Path) -> tuple[int, int]:
        try:
            with tifffile.TiffFile(file) as tif:
                pages = tif.pages
                if len(pages) != 1:
                    raise ConversionError(f"{file} has {len(pages)} pages; a plane folder needs single-plane TIFFs")
                shape = tif.pages.first.shape
                samples = int(tif.pages.first.samplesperpixel)
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise ConversionError(f"cannot read the TIFF plane {file}: {exc}") from exc
        if len(shape) != 2 or samples != 1:
            raise ConversionError(f"{file} has shape {shape}; expected one grey-level plane")
        return int(shape[0]), int(shape[1])

    @staticmethod
    def _read_plane(file: Path) -> npt.NDArray[Any]:
        try:
            plane = np.asarray(tifffile.imread(file))
        except FileNotFoundError as exc:
            raise ConversionError(f"the plane {file} disappeared during the conversion") from exc
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise ConversionError(f"cannot read the TIFF plane {file}: {exc}") from exc
        if plane.ndim != 2:
            raise ConversionError(f"{file} has shape {plane.shape}; expected one grey-level plane")
        return plane

    @staticmethod
    def _volume_shape(path: Path) -> tuple[int, int, int]:
        try:
            with tifffile.TiffFile(path) as tif:
                shape = tuple(int(n) for n in tif.series[0].shape)
                samples = int(tif.pages.first.samplesperpixel)
        except (OSError, ValueError, IndexError, tifffile.TiffFileError) as exc:
            raise ConversionError(f"cannot read the TIFF volume {path}: {exc}") from exc
        if samples != 1:
            raise ConversionError(f"{path} has {samples} samples per pixel; expected one grey-level channel")
        if len(shape) == 2:
            return shape[0], shape[1], 1
        squeezed = [n for n in shape[:-2] if n != 1]
        if len(squeezed) > 1:
            raise ConversionError(f"{path} has shape {shape}; expected z planes of one channel")
        return shape[-2], shape[-1], squeezed[0] if squeezed else 1
