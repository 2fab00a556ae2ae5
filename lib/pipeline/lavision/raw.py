"""The raw files of one LaVision channel, by tile, light sheet and plane.

    <prefix>_RawDataStack[<col> x <row>]_C<sheet>_xyz-Table Z<zzzz>_UltraII Filter<ffff>.ome.tif

A channel is the files of its raw folder whose `Filter` number is the channel's two-digit index. The
bracket may be missing for a single tile (read as [00 x 00]). `C00` is the left sheet, or the only sheet
when one was used; `C01` is the right sheet when both were used. Listing and reading never write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile

from lib.rawdata.validate import LAVISION_NAME_RE

from ..errors import PipelineError

#: (column, row, sheet name, z)
FileKey = tuple[int, int, str, int]


def sheet_codes(sheets: Sequence[str]) -> dict[str, int]:
    """Sheet name -> the number after `C` in the file names."""
    if len(sheets) == 1:
        return {sheets[0]: 0}
    return {"left": 0, "right": 1}


def expected_keys(tiling: tuple[int, int], sheets: Sequence[str], planes: int) -> Iterator[FileKey]:
    """Every (column, row, sheet, z) an acquisition of this shape must have."""
    columns, rows = tiling
    for column in range(columns):
        for row in range(rows):
            for sheet in sheets:
                for z in range(planes):
                    yield (column, row, sheet, z)


def describe_key(key: FileKey, sheets: Sequence[str]) -> str:
    column, row, sheet, z = key
    return f"tile [{column:02d} x {row:02d}] sheet {sheet} (C{sheet_codes(sheets)[sheet]:02d}) plane Z{z:04d}"


@dataclass(frozen=True)
class RawChannel:
    """The files of one channel found in its raw folder."""

    folder: Path
    filter_index: int
    sheets: tuple[str, ...]
    files: Mapping[FileKey, Path]
    prefixes: frozenset[str]

    def path(self, column: int, row: int, sheet: str, z: int) -> Path:
        try:
            return self.files[(column, row, sheet, z)]
        except KeyError:
            key = describe_key((column, row, sheet, z), self.sheets)
            raise PipelineError(f"{self.folder}: no raw file for Filter{self.filter_index:04d} {key}") from None

    def read(self, column: int, row: int, sheet: str, z: int) -> npt.NDArray[np.float32]:
        return read_image(self.path(column, row, sheet, z))

    def missing(self, tiling: tuple[int, int], planes: int) -> list[FileKey]:
        return [key for key in expected_keys(tiling, self.sheets, planes) if key not in self.files]


def list_channel(folder: Path, filter_index: int, sheets: Sequence[str]) -> RawChannel:
    """Scan `folder` once for the files of one channel. Files of other sheets than `sheets` are ignored;
    two files for one (tile, sheet, plane), e.g. two acquisition prefixes, are refused."""
    codes = {code: sheet for sheet, code in sheet_codes(sheets).items()}
    files: dict[FileKey, Path] = {}
    prefixes: set[str] = set()
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise PipelineError(f"cannot list the raw data folder {folder}: {exc.strerror}") from exc
    for entry in entries:
        match = LAVISION_NAME_RE.match(entry.name)
        if not match or int(match["filter"]) != filter_index or int(match["sheet"]) not in codes:
            continue
        key = (int(match["column"] or 0), int(match["row"] or 0), codes[int(match["sheet"])], int(match["z"]))
        if key in files:
            raise PipelineError(
                f"{folder}: two raw files for Filter{filter_index:04d} {describe_key(key, sheets)}: "
                f"{files[key].name} and {entry.name}"
            )
        files[key] = Path(entry.path)
        prefixes.add(match["prefix"])
    return RawChannel(folder, filter_index, tuple(sheets), files, frozenset(prefixes))


def read_image(path: Path) -> npt.NDArray[np.float32]:
    """One single-plane TIFF as float32."""
    try:
        image = tifffile.imread(path)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc
    image = np.squeeze(np.asarray(image))
    if image.ndim != 2:
        raise PipelineError(f"{path} holds an image of shape {image.shape}, not a single plane")
    return image.astype(np.float32, copy=False)


def image_header(path: Path) -> tuple[tuple[int, int], str]:
    """(height, width) and dtype name of a single-plane TIFF, from its header only."""
    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages.first
            shape, dtype = tuple(int(n) for n in page.shape), str(page.dtype)
            pages = len(tiff.pages)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc
    squeezed = tuple(n for n in shape if n != 1) if len(shape) > 2 else shape
    if pages != 1 or len(squeezed) != 2:
        raise PipelineError(f"{path} is not a single-plane image ({pages} pages of shape {shape})")
    return (squeezed[0], squeezed[1]), dtype
