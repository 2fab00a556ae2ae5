"""Stage `setup` (single task): checks that every raw file the run needs is there and readable,
creates the output tree and writes `metadata.json`. Reads raw data only (listings and TIFF headers)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import PipelineError
from ..layout import METADATA_NAME, PARAMS_NAME, full_size_dir, resized_dir, stitched_sheet_dir
from ..params import LavisionParams
from .raw import RawChannel, describe_key, image_header, list_channel, sheet_codes

MISSING_SHOWN = 3  # missing files named in the message, per channel


def _check_channel(params: LavisionParams, raw: RawChannel, index: str) -> str | None:
    """A sentence about what is missing, or None."""
    columns, rows = params.tiling
    sheets, planes = params.lightsheets, params.number_of_z_planes
    expected = columns * rows * len(sheets) * planes
    missing = raw.missing(params.tiling, planes)
    if not missing:
        return None
    shown = "; ".join(describe_key(key, sheets) for key in missing[:MISSING_SHOWN])
    more = f" and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    return (
        f"channel {index} (Filter{int(index):04d} in {raw.folder}): expected {expected} files "
        f"({columns}x{rows} tiles x {len(sheets)} sheet(s) x {planes} planes), found {expected - len(missing)}; "
        f"missing {shown}{more}"
    )


def run_setup(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = LavisionParams.from_document(document)
    absent = sorted({str(c.raw_dir) for c in params.channels if not c.raw_dir.is_dir()})
    if absent:
        raise PipelineError(f"raw data folder(s) not found: {', '.join(absent)}")
    listings = {c.index: list_channel(c.raw_dir, int(c.index), params.lightsheets) for c in params.channels}
    problems = [p for c in params.channels if (p := _check_channel(params, listings[c.index], c.index))]
    if problems:
        raise PipelineError("incomplete raw data: " + "; ".join(problems))

    shapes: dict[tuple[int, int], list[str]] = {}
    dtypes: set[str] = set()
    for channel in params.channels:
        raw = listings[channel.index]
        for key, path in sorted(raw.files.items()):
            if key[3] != 0:
                continue  # the headers of each tile and sheet's first plane
            shape, dtype = image_header(path)
            shapes.setdefault(shape, []).append(path.name)
            dtypes.add(dtype)
    if len(shapes) != 1:
        summary = ", ".join(f"{w}x{h} px ({len(names)} files, e.g. {names[0]})" for (h, w), names in shapes.items())
        raise PipelineError(f"the raw tiles differ in size: {summary}")
    if dtypes != {"uint16"}:
        raise PipelineError(f"the raw files must be 16-bit; found {', '.join(sorted(dtypes))}")
    (height, width) = next(iter(shapes))

    out = params.output_dir
    out.mkdir(parents=True, exist_ok=True)
    for channel in params.channels:
        full_size_dir(out, channel).mkdir(parents=True, exist_ok=True)
        resized_dir(out, channel).mkdir(parents=True, exist_ok=True)
        if params.tiled:
            for sheet in params.lightsheets:
                stitched_sheet_dir(out, channel, sheet).mkdir(parents=True, exist_ok=True)
    if not (out / PARAMS_NAME).exists():
        (out / PARAMS_NAME).write_text(json.dumps(params.document, indent=1), encoding="utf-8")
    columns, rows = params.tiling
    metadata = {
        "run_id": params.run_id,
        "tiling": f"{columns}x{rows}",
        "tiles": [{"column": c, "row": r} for c in range(columns) for r in range(rows)],
        "tile_shape": [height, width],
        "planes": params.number_of_z_planes,
        "dtype": "uint16",
        "sheets": {sheet: f"C{code:02d}" for sheet, code in sheet_codes(params.lightsheets).items()},
        "channels": [
            {
                "index": c.index,
                "role": c.role,
                "raw_dir": str(c.raw_dir),
                "files": len(listings[c.index].files),
                "prefixes": sorted(listings[c.index].prefixes),
            }
            for c in params.channels
        ],
        "stage": "lib.pipeline.lavision setup",
    }
    (out / METADATA_NAME).write_text(json.dumps(metadata, indent=1), encoding="utf-8")
    sheets = "+".join(params.lightsheets)
    return (
        f"{len(params.channels)} channel(s), {columns}x{rows} tile(s) of {width}x{height} px, sheets {sheets}, "
        f"{params.number_of_z_planes} planes: raw data complete, output tree ready"
    )
