"""Raw-data validation (folders and file counts), per sample and resolution.

Read-only by construction: the only file-system calls are `os.scandir` and `Path.is_dir`.
Every problem is reported, with the counts expected and found; the caller prefixes the messages with
"Sample S, resolution R:" and stores them.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lib.naming import resolution_folder_name

Progress = Callable[[str], None]

MICROSCOPE_OF_RESOLUTION: dict[str, str] = {
    "1.1x": "lavision",
    "1.3x": "lavision",
    "2x": "lavision",
    "4x": "lavision",
    "3.6x": "smartspim",
    "15x": "smartspim",
}

# `<prefix>_RawDataStack[<XX> x <YY>]_C<LL>_xyz-Table Z<ZZZZ>_UltraII Filter<FFFF>.ome.tif`;
# the prefix never contains `RawDataStack`; the bracket is optional (read as [00 x 00]).
LAVISION_NAME_RE = re.compile(
    r"^(?P<prefix>(?:(?!RawDataStack).)+)_RawDataStack(?:\[(?P<column>\d{2}) x (?P<row>\d{2})\])?"
    r"_C(?P<sheet>\d{2})_xyz-Table Z(?P<z>\d{4})_UltraII Filter(?P<filter>\d{4})(?:\.ome\.tif|\.tif)$"
)
# `<subfolder>/<XXXXXX>/<XXXXXX>_<YYYYYY>/<ZZZZZZ>.tif`
SMARTSPIM_COLUMN_RE = re.compile(r"^\d{6}$")
SMARTSPIM_ROW_RE = re.compile(r"^(?P<column>\d{6})_(?P<row>\d{6})$")
SMARTSPIM_PLANE_RE = re.compile(r"^\d{6}\.tiff?$")
TILING_RE = re.compile(r"^(\d+)x(\d+)$")

MAX_MISSING_LINES = 10
PROGRESS_EVERY = 10_000

TileKey = tuple[int, int, int, int]  # column, row, sheet code number, plane


@dataclass(frozen=True)
class ChannelSpec:
    """One channel row of a sample at one resolution, as entered on the imaging form."""

    wavelength: str  # e.g. "488"
    subfolder: str  # raw data subfolder, relative to rawdata/resolution_<res>[_ventral_up]/
    n_planes: int  # number of z planes
    tiling: str = "1x1"  # "<columns>x<rows>"
    overlap: float = 0.0  # tiling overlap, fraction
    left_sheet: bool = True
    right_sheet: bool = True
    ventral_up: bool = False
    orientation: str = "horizontal"
    z_step_um: float = 10.0

    @property
    def side(self) -> str:
        return "ventral" if self.ventral_up else "dorsal"

    @property
    def sheet_count(self) -> int:
        return int(self.left_sheet) + int(self.right_sheet)

    def tiles(self) -> tuple[int, int]:
        """(columns, rows); (1, 1) for a value that does not parse (the form refuses those first)."""
        match = TILING_RE.match(self.tiling.strip().lower())
        return (int(match.group(1)), int(match.group(2))) if match else (1, 1)


@dataclass
class ValidationResult:
    """`messages` block submission; `info` does not; `channel_indexes` maps (wavelength, ventral_up) to
    the LaVision `Filter` index checked (stored as `imspector_channel_index`)."""

    messages: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    channel_indexes: dict[tuple[str, bool], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.messages

    def extend(self, other: ValidationResult) -> None:
        self.messages += other.messages
        self.info += other.info
        self.channel_indexes.update(other.channel_indexes)


def _quiet(_text: str) -> None:
    return None


# --- rule 1: consistency -------------------------------------------------------------------------------


def _parameters(channel: ChannelSpec) -> tuple[object, ...]:
    return (
        channel.orientation,
        channel.left_sheet,
        channel.right_sheet,
        channel.tiles(),
        float(channel.overlap),
        float(channel.z_step_um),
        channel.n_planes,
    )


def check_consistency(channels: Sequence[ChannelSpec]) -> list[str]:
    """Channels sharing a subfolder on one side share every acquisition parameter; all channels at one
    resolution and side share tiling scheme and overlap."""
    messages = []
    by_folder: dict[tuple[str, bool], set[tuple[object, ...]]] = defaultdict(set)
    by_side: dict[bool, set[tuple[object, ...]]] = defaultdict(set)
    for channel in channels:
        by_folder[(_clean(channel.subfolder), channel.ventral_up)].add(_parameters(channel))
        by_side[channel.ventral_up].add((channel.tiles(), float(channel.overlap)))
    if any(len(values) > 1 for values in by_folder.values()):
        messages.append("Tiling and imaging parameters must be identical for all channels in the same subfolder.")
    if any(len(values) > 1 for values in by_side.values()):
        messages.append("All channels at one resolution must use the same tiling scheme and overlap.")
    return messages


def filter_indexes(channels: Sequence[ChannelSpec]) -> dict[tuple[str, bool], int]:
    """ImSpector `Filter` index of each channel: ascending wavelength order among the channels sharing
    its subfolder and side; a channel alone in its subfolder is 0."""
    groups: dict[tuple[str, bool], set[str]] = defaultdict(set)
    for channel in channels:
        groups[(_clean(channel.subfolder), channel.ventral_up)].add(channel.wavelength)
    indexes = {}
    for channel in channels:
        ordered = sorted(groups[(_clean(channel.subfolder), channel.ventral_up)], key=int)
        indexes[(channel.wavelength, channel.ventral_up)] = ordered.index(channel.wavelength)
    return indexes


# --- helpers -------------------------------------------------------------------------------------------


def _clean(subfolder: str) -> str:
    return subfolder.strip().rstrip("/")


def _unsafe(subfolder: str) -> bool:
    path = PurePosixPath(subfolder)
    return not subfolder or "\\" in subfolder or path.is_absolute() or ".." in path.parts


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        yield from entries


def _plane_ranges(planes: Sequence[int]) -> list[str]:
    """[5, 6, 7, 9] -> ["planes Z0005–Z0007", "plane Z0009"]."""
    ranges: list[str] = []
    ordered = sorted(planes)
    start = previous = ordered[0]
    for z in [*ordered[1:], None]:
        if z is not None and z == previous + 1:
            previous = z
            continue
        ranges.append(f"planes Z{start:04d}–Z{previous:04d}" if previous > start else f"plane Z{start:04d}")
        if z is not None:
            start = previous = z
    return ranges


# --- rule 3: LaVision ----------------------------------------------------------------------------------


@dataclass
class _LavisionListing:
    by_filter: dict[int, list[tuple[TileKey, str, bool]]]  # filter -> (key, file name, had a tile bracket)
    unparsed: int


def _list_lavision(folder: Path, progress: Progress) -> _LavisionListing:
    by_filter: dict[int, list[tuple[TileKey, str, bool]]] = defaultdict(list)
    unparsed = 0
    for count, entry in enumerate(_entries(folder), start=1):
        if count % PROGRESS_EVERY == 0:
            progress(f"Listed {count:,} files in {folder.name}…")
        if not entry.is_file():
            continue
        match = LAVISION_NAME_RE.match(entry.name)
        if not match:
            unparsed += 1
            continue
        bracket = match["column"] is not None
        key = (int(match["column"] or 0), int(match["row"] or 0), int(match["sheet"]), int(match["z"]))
        by_filter[int(match["filter"])].append((key, entry.name, bracket))
    return _LavisionListing(dict(by_filter), unparsed)


def validate_lavision_channel(
    folder: Path, channel: ChannelSpec, channel_index: int, *, listing: _LavisionListing | None = None
) -> list[str]:
    """Expect exactly tiles × sheets used × planes files with `Filter` = channel_index in `folder`."""
    listing = listing or _list_lavision(folder, _quiet)
    columns, rows = channel.tiles()
    sheets = range(channel.sheet_count)  # C00, and C01 when both sheets were used
    expected = {
        (c, r, s, z) for c in range(columns) for r in range(rows) for s in sheets for z in range(channel.n_planes)
    }
    files = listing.by_filter.get(channel_index, [])
    found = {key for key, _name, _bracket in files}
    label = f"Channel {channel.wavelength}"
    messages = []
    if len(files) != len(expected):
        messages.append(
            f"{label}: expected {len(expected)} raw files in {_clean(channel.subfolder)}, found {len(files)}."
        )
    if columns * rows > 1 and any(not bracket for _key, _name, bracket in files):
        messages.append("Tile positions are missing from the file names.")
    missing: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for column, row, sheet, z in sorted(expected - found):
        missing[(column, row, sheet)].append(z)
    lines = [
        f"{label}: missing tile [{column:02d} x {row:02d}] C{sheet:02d} {text}"
        for (column, row, sheet), planes in sorted(missing.items())
        for text in _plane_ranges(planes)
    ]
    messages += lines[:MAX_MISSING_LINES]
    if len(lines) > MAX_MISSING_LINES:
        messages.append(f"{label}: … and {len(lines) - MAX_MISSING_LINES} more")
    outside = sorted(name for key, name, _bracket in files if key not in expected)
    if outside:
        messages.append(f"{label}: found files outside the tiling scheme or plane range, e.g. {outside[0]}.")
    return messages


# --- rule 4: SmartSPIM ---------------------------------------------------------------------------------


def validate_smartspim_subfolder(folder: Path, channel: ChannelSpec, progress: Progress = _quiet) -> list[str]:
    """Exactly C column folders; in every column exactly R row folders repeating the column's digits; in
    every row folder exactly n plane files. Other files and folders are ignored."""
    columns, rows = channel.tiles()
    subfolder = _clean(channel.subfolder)
    column_dirs = sorted(e.name for e in _entries(folder) if e.is_dir() and SMARTSPIM_COLUMN_RE.match(e.name))
    messages = []
    if len(column_dirs) != columns:
        messages.append(f"Expected {columns} tile column folders in {subfolder}, found {len(column_dirs)}.")
    tile_count = 0
    for column in column_dirs:
        row_dirs: list[str] = []
        foreign: list[str] = []
        for entry in _entries(folder / column):
            match = SMARTSPIM_ROW_RE.match(entry.name) if entry.is_dir() else None
            if match:
                (row_dirs if match["column"] == column else foreign).append(entry.name)
        if len(row_dirs) != rows:
            messages.append(f"Column {column}: expected {rows} tile row folders, found {len(row_dirs)}.")
        for name in sorted(foreign):
            messages.append(f"Column {column}: row folder {name} does not start with the column name {column}.")
        for row in sorted(row_dirs):
            planes = sum(1 for e in _entries(folder / column / row) if e.is_file() and SMARTSPIM_PLANE_RE.match(e.name))
            if planes != channel.n_planes:
                messages.append(f"Tile {column}/{row}: expected {channel.n_planes} z planes, found {planes}.")
            tile_count += 1
            if tile_count % 10 == 0:
                progress(f"Checked {tile_count} tile folders in {subfolder}…")
    return messages


# --- one sample at one resolution ----------------------------------------------------------------------


def validate_resolution(
    rawdata_dir: Path,
    resolution: str,
    channels: Sequence[ChannelSpec],
    *,
    progress: Progress | None = None,
    display_root: str | None = None,
) -> ValidationResult:
    """Validate every channel of one sample at one resolution (dorsal and ventral-up rows alike).

    `rawdata_dir` is `…/imaging_request_<N>/rawdata`; `display_root` is how that folder is shown to
    the imager (defaults to the path itself)."""
    report = progress or _quiet
    microscope = MICROSCOPE_OF_RESOLUTION.get(resolution)
    if microscope is None:
        raise ValueError(f"unknown resolution {resolution!r}")
    result = ValidationResult(messages=check_consistency(channels))
    indexes = filter_indexes(channels)
    shown_root = (display_root or str(rawdata_dir)).rstrip("/")
    listings: dict[Path, _LavisionListing] = {}
    checked_smartspim: set[Path] = set()
    for channel in channels:
        subfolder = _clean(channel.subfolder)
        if _unsafe(subfolder):
            result.messages.append(
                f"Channel {channel.wavelength}: raw data subfolder {subfolder!r} must be relative, without '..'."
            )
            continue
        relative = f"{resolution_folder_name(resolution, channel.ventral_up)}/{subfolder}"
        folder = rawdata_dir / relative
        if not folder.is_dir():
            message = f"Folder {shown_root}/{relative} does not exist."
            if message not in result.messages:
                result.messages.append(message)
            continue
        report(f"Checking channel {channel.wavelength} ({channel.side}) in {subfolder}…")
        if microscope == "lavision":
            index = indexes[(channel.wavelength, channel.ventral_up)]
            if folder not in listings:
                listings[folder] = _list_lavision(folder, report)
                if listings[folder].unparsed:
                    result.info.append(
                        f"{listings[folder].unparsed} files in {subfolder} do not follow the LaVision naming "
                        "and were ignored."
                    )
            result.messages += validate_lavision_channel(folder, channel, index, listing=listings[folder])
            result.channel_indexes[(channel.wavelength, channel.ventral_up)] = index
        elif folder not in checked_smartspim:
            checked_smartspim.add(folder)
            result.messages += validate_smartspim_subfolder(folder, channel, report)
    return result
