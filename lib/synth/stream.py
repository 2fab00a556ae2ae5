"""Plane-by-plane TIFF writing: memory holds one plane, never the stack, so benchmarks can write
gigavoxel stacks (`write_plane_stack`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

PlaneSource = Callable[[int], npt.NDArray[Any]]


def write_plane(path: Path, plane: npt.NDArray[Any], voxel_size_um: tuple[float, float, float] | None = None) -> None:
    """One single-page TIFF. `.ome.tif` names get an OME-XML header (as ImSpector writes) whose UUID is
    derived from the file name, so the same inputs give byte-identical files."""
    if path.name.endswith(".ome.tif"):
        metadata: dict[str, Any] = {"UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, path.name))}
        if voxel_size_um is not None:
            metadata.update(zip(("PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeZ"), voxel_size_um, strict=True))
        tifffile.imwrite(path, plane, photometric="minisblack", metadata=metadata)
    else:
        tifffile.imwrite(path, plane, photometric="minisblack")


def write_float_image(path: Path, shape: tuple[int, int], rows_of: Callable[[int, int], npt.NDArray[Any]]) -> None:
    """A float32 image written in 256 × 256 tiles computed on demand, so even a stitched-canvas-sized
    image never sits in memory whole. `rows_of(y0, y1)` returns rows [y0, y1) at full width."""
    tile = 256

    def tiles() -> Iterator[npt.NDArray[np.float32]]:
        for y0 in range(0, shape[0], tile):
            band = np.asarray(rows_of(y0, min(y0 + tile, shape[0])), dtype=np.float32)
            for x0 in range(0, shape[1], tile):
                block = np.zeros((tile, tile), dtype=np.float32)
                part = band[:, x0 : x0 + tile]
                block[: part.shape[0], : part.shape[1]] = part
                yield block

    tifffile.imwrite(path, tiles(), shape=shape, dtype=np.float32, tile=(tile, tile), photometric="minisblack")


@dataclass(frozen=True)
class PlaneStack:
    out_dir: Path
    shape: tuple[int, int, int]  # (z, y, x)
    dtype: str
    files: tuple[Path, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def ramp_pattern(shape: tuple[int, int, int], dtype: npt.DTypeLike = np.uint16) -> PlaneSource:
    """Plane z holds (x + y + 7·z) modulo the dtype's range: cheap, and every voxel is checkable."""
    _, height, width = shape
    kind = np.dtype(dtype)
    modulus = int(np.iinfo(kind).max) + 1 if kind.kind in "ui" else 1 << 16
    base = (np.arange(height, dtype=np.int64)[:, None] + np.arange(width, dtype=np.int64)[None, :]) % modulus

    def plane(z: int) -> npt.NDArray[Any]:
        return ((base + 7 * z) % modulus).astype(kind)

    return plane


def noise_pattern(shape: tuple[int, int, int], dtype: npt.DTypeLike = np.uint16, seed: int = 0) -> PlaneSource:
    """Seeded uniform noise over the lower 12 bits (like a camera), independent per plane."""
    _, height, width = shape
    kind = np.dtype(dtype)

    def plane(z: int) -> npt.NDArray[Any]:
        rng = np.random.default_rng([seed, z])
        if kind.kind in "ui":
            return rng.integers(0, 4096, size=(height, width), dtype=kind)
        return rng.integers(0, 4096, size=(height, width), dtype=np.int32).astype(kind)

    return plane


PATTERNS: dict[str, Callable[[tuple[int, int, int], npt.DTypeLike, int], PlaneSource]] = {
    "ramp": lambda shape, dtype, seed: ramp_pattern(shape, dtype),
    "noise": noise_pattern,
}


def write_plane_stack(
    out_dir: Path,
    shape: tuple[int, int, int],
    dtype: npt.DTypeLike = np.uint16,
    pattern: str | PlaneSource = "ramp",
    *,
    name_format: str = "{z:04d}.tif",
    seed: int = 0,
) -> PlaneStack:
    """Write a (z, y, x) stack as one TIFF per plane named `name_format.format(z=z)`, one plane at a time.

    `pattern` is "ramp", "noise" or any callable returning plane z (e.g. a `Brain.render` closure)."""
    kind = np.dtype(dtype)
    source = PATTERNS[pattern](shape, kind, seed) if isinstance(pattern, str) else pattern
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for z in range(shape[0]):
        plane = np.asarray(source(z))
        if plane.shape != shape[1:]:
            raise ValueError(f"plane {z} has shape {plane.shape}, expected {shape[1:]}")
        path = out_dir / name_format.format(z=z)
        write_plane(path, plane.astype(kind, copy=False))
        files.append(path)
        del plane
    return PlaneStack(out_dir=out_dir, shape=shape, dtype=kind.name, files=tuple(files))
