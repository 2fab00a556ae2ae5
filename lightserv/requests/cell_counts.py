"""Per-region cell counts of a request for its overview: one table per detected cell channel, read from the
`cell_counts_by_region.csv` that the `detect` stage writes once its `cells` layer is
ready. Two queries whatever the number of samples, and one small file per counted channel."""

from __future__ import annotations

import csv
from pathlib import Path

from flask import current_app

from lib.pipeline import layout
from lib.pipeline.params import ChannelInput
from lightserv.db import get_schemas

_RESOLUTION_KEY = ("sample_name", "imaging_request_number", "processing_request_number", "image_resolution",
                   "ventral_up")  # fmt: skip


def _read(path: Path) -> tuple[list[dict], str]:
    """(regions sorted by count, most first; a problem in words or "")."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [
                {"region_id": int(r["region_id"]), "region_name": r.get("region_name") or "", "count": int(r["count"])}
                for r in csv.DictReader(handle)
            ]
    except FileNotFoundError:
        return [], "The cell counts file is missing."
    except (OSError, KeyError, TypeError, ValueError):
        return [], "The cell counts file could not be read."
    rows.sort(key=lambda r: (-r["count"], r["region_name"], r["region_id"]))
    return rows, ""


def request_cell_counts(owner: str, request_name: str) -> list[dict]:
    """Every counted channel of the request: its sample, imaging and processing request numbers, resolution,
    side, channel, atlas, total and regions (or a problem), in sample order."""
    ls = get_schemas().lightsheet
    key = {"username": owner, "request_name": request_name}
    cells = (ls.Request.DataLayer & key & {"product": "cells", "status": "ready"}).to_dicts(
        order_by=[*_RESOLUTION_KEY, "channel_name"]
    )
    if not cells:
        return []
    wanted = [{k: c[k] for k in _RESOLUTION_KEY} for c in cells]
    resolutions = ls.Request.ProcessingResolutionRequest.proj("output_dir", "atlas_name")
    rows = ((ls.Request.ProcessingChannel * resolutions) & key & wanted).to_dicts()
    channels = {(*(c[k] for k in _RESOLUTION_KEY), c["channel_name"]): c for c in rows}
    root = Path(current_app.config["SETTINGS"].data_root)
    out = []
    for layer in cells:
        channel = channels.get((*(layer[k] for k in _RESOLUTION_KEY), layer["channel_name"]))
        if channel is None or not channel["output_dir"]:
            continue
        index = f"{channel['channel_index']:02d}"
        path = layout.cell_counts_csv(root / channel["output_dir"], ChannelInput(Path(), "cellch", index))
        regions, problem = _read(path)
        out.append({**{k: layer[k] for k in _RESOLUTION_KEY}, "channel_name": layer["channel_name"],
                    "atlas_name": channel["atlas_name"], "regions": regions, "problem": problem,
                    "total": sum(r["count"] for r in regions)})  # fmt: skip
    return out
