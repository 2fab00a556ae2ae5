"""Raw-data file and folder names as the acquisition software writes them.

LaVision UltraMicroscope II (one file per z plane, tile, light sheet and channel):
    `<prefix>_RawDataStack[<XX> x <YY>]_C<LL>_xyz-Table Z<ZZZZ>_UltraII Filter<FFFF>.ome.tif`
SmartSPIM (one file per z plane in a two-level tile tree; numbers are stage positions in tenths of µm):
    `<subfolder>/<XXXXXX>/<XXXXXX>_<YYYYYY>/<ZZZZZZ>.tif`

Tiling is always `<columns>x<rows>`: columns count tiles along X, rows along Y.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

Sheet = Literal["left", "right"]

LAVISION_WAVELENGTHS: tuple[str, ...] = ("488", "555", "647", "790")
SMARTSPIM_WAVELENGTHS: tuple[str, ...] = ("488", "561", "642", "785")
SHEETS: tuple[Sheet, ...] = ("left", "right")

# `<prefix>` never contains `RawDataStack`; the bracket is optional (single tile, read as [00 x 00]).
LAVISION_NAME_RE = re.compile(
    r"^(?P<prefix>.+?)_RawDataStack(?:\[(?P<column>\d{2}) x (?P<row>\d{2})\])?"
    r"_C(?P<sheet>\d{2})_xyz-Table Z(?P<z>\d{4})_UltraII Filter(?P<filter>\d{4})(?P<ext>\.ome\.tif|\.tif)$"
)
STAGE_DIGITS_RE = re.compile(r"^\d{6}$")
SMARTSPIM_ROW_RE = re.compile(r"^(?P<column>\d{6})_(?P<row>\d{6})$")
SMARTSPIM_PLANE_RE = re.compile(r"^(?P<z>\d{6})\.tiff?$")


def parse_tiling(text: str) -> tuple[int, int]:
    """`"2x3"` -> (2 columns, 3 rows). Case-insensitive, no spaces."""
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"tiling must look like 2x3 (columns x rows), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def format_tiling(tiling: tuple[int, int]) -> str:
    return f"{tiling[0]}x{tiling[1]}"


def sheet_codes(sheets: Sequence[Sheet]) -> dict[Sheet, str]:
    """`C00` = left sheet, or the only sheet when one side was used (even the right one); `C01` = right
    sheet when both were used."""
    if not sheets or len(set(sheets)) != len(sheets) or any(s not in SHEETS for s in sheets):
        raise ValueError(f"sheets must be a non-empty subset of {SHEETS}, got {tuple(sheets)}")
    if len(sheets) == 1:
        return {sheets[0]: "C00"}
    return {"left": "C00", "right": "C01"}


def filter_indexes(wavelengths: Iterable[str]) -> dict[str, int]:
    """ImSpector `Filter` index of each channel sharing one subfolder (and side): ascending wavelength
    order, zero-based; a channel alone in its subfolder is 0."""
    unique = sorted(set(wavelengths), key=int)
    return {wavelength: index for index, wavelength in enumerate(unique)}


def lavision_file_name(
    prefix: str,
    column: int,
    row: int,
    sheet_code: str,
    z: int,
    filter_index: int,
    *,
    extension: str = ".ome.tif",
    bracket: bool = True,
) -> str:
    """`10-50-16_UltraII_raw_RawDataStack[00 x 01]_C01_xyz-Table Z0137_UltraII Filter0001.ome.tif`."""
    if "RawDataStack" in prefix:
        raise ValueError("a LaVision prefix never contains 'RawDataStack'")
    if not (0 <= column < 100 and 0 <= row < 100 and 0 <= z < 10_000 and 0 <= filter_index < 10_000):
        raise ValueError("tile indexes have two digits, plane and filter indexes four")
    tile = f"[{column:02d} x {row:02d}]" if bracket else ""
    return f"{prefix}_RawDataStack{tile}_{sheet_code}_xyz-Table Z{z:04d}_UltraII Filter{filter_index:04d}{extension}"


def lavision_prefix(hour: int, minute: int, second: int) -> str:
    """The acquisition software's usual prefix, `HH-MM-SS_UltraII_raw`."""
    return f"{hour:02d}-{minute:02d}-{second:02d}_UltraII_raw"


def smartspim_channel_folder(wavelength: str) -> str:
    """`Ex_<excitation>_Em_<k>`, k = position of the wavelength in (488, 561, 642, 785)."""
    if wavelength not in SMARTSPIM_WAVELENGTHS:
        raise ValueError(f"SmartSPIM wavelengths are {SMARTSPIM_WAVELENGTHS}, got {wavelength!r}")
    return f"Ex_{wavelength}_Em_{SMARTSPIM_WAVELENGTHS.index(wavelength)}"


def stage_digits(tenths_um: int) -> str:
    """A stage position in tenths of µm as exactly six digits."""
    if not 0 <= tenths_um <= 999_999:
        raise ValueError(f"stage position {tenths_um} does not fit in six digits")
    return f"{tenths_um:06d}"


def smartspim_column_folder(x_tenths: int) -> str:
    return stage_digits(x_tenths)


def smartspim_row_folder(x_tenths: int, y_tenths: int) -> str:
    return f"{stage_digits(x_tenths)}_{stage_digits(y_tenths)}"


def smartspim_plane_name(z_tenths: int, extension: str = ".tif") -> str:
    return f"{stage_digits(z_tenths)}{extension}"
