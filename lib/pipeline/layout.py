"""Where every LaVision product goes, under `output/processing_request_<P>/resolution_<res><vu>/`. Stages and the
application (layers, processing log) use only these functions.

Plane files inside a plane folder are named `plane_<zzzz>.tif` (16-bit, one per z plane, four digits or
more), so sorting by the number in the name gives z order.
"""

from __future__ import annotations

from pathlib import Path

from .params import ChannelInput

PARAMS_NAME = "params.json"
METADATA_NAME = "metadata.json"  # written by setup: tiles found, plane count, shapes
ELASTIX_DIR = "elastix"
CELLS_DIR = "cells"


def plane_name(z: int) -> str:
    return f"plane_{z:04d}.tif"


def stitched_sheet_dir(out: Path, channel: ChannelInput, sheet: str) -> Path:
    """Per-sheet stitched planes (tiled data only)."""
    return out / f"{channel.subfolder}_ch{channel.index}_{sheet}_lightsheet_ts_out"


def full_size_dir(out: Path, channel: ChannelInput) -> Path:
    """Blended full-resolution planes."""
    return out / "full_sizedatafld" / f"{channel.subfolder}_ch{channel.index}"


def resized_dir(out: Path, channel: ChannelInput) -> Path:
    """Planes resized in-plane by the resize factor."""
    return out / f"{channel.subfolder}_resized_ch{channel.index}"


def downsized_volume(out: Path, channel: ChannelInput) -> Path:
    """The downsized volume in output orientation at the downsized voxel (one multi-page TIFF)."""
    return out / f"{channel.subfolder}_resized_ch{channel.index}_resampledforelastix.tif"


def elastix_dir(out: Path) -> Path:
    return out / ELASTIX_DIR


def registered_volume(out: Path, channel: ChannelInput, role: str) -> Path:
    """The registration channel's result is `elastix/result.1.tif`; every other channel's is
    `elastix/<subfolder>_resized_ch<NN>/result.tif`."""
    if role == "regch":
        return elastix_dir(out) / "result.1.tif"
    return elastix_dir(out) / f"{channel.subfolder}_resized_ch{channel.index}" / "result.tif"


def cells_dir(out: Path, channel: ChannelInput) -> Path:
    return out / CELLS_DIR / f"ch{channel.index}"


def cells_csv(out: Path, channel: ChannelInput) -> Path:
    """`x,y,z,score` in full-resolution voxel coordinates."""
    return cells_dir(out, channel) / "cells.csv"


def cells_registered_csv(out: Path, channel: ChannelInput) -> Path:
    """`x,y,z,region_id` in atlas voxel coordinates."""
    return cells_dir(out, channel) / "cells_registered.csv"


def cell_counts_csv(out: Path, channel: ChannelInput) -> Path:
    """`region_id,region_name,count`."""
    return cells_dir(out, channel) / "cell_counts_by_region.csv"


# SmartSPIM: everything beside the raw channel subfolders
def smartspim_stitched_dir(rawdata_dir: Path, subfolder: str) -> Path:
    return rawdata_dir / f"{subfolder}_stitched"


def smartspim_corrected_dir(rawdata_dir: Path, subfolder: str) -> Path:
    return rawdata_dir / f"{subfolder}_corrected"
