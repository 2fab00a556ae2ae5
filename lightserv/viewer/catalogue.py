"""Read-only queries of the viewer: the layers of an imaging or processing request, and a link spec resolved
into the layers a session launches (paths from `DataLayer`/`Atlas` at launch time)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from lightserv.db import get_schemas
from lightserv.layers.labels import PURPOSE_WORDS, atlas_label, layer_label, layer_words
from schemas.enums import MICROSCOPE_OF_RESOLUTION

from .groups import SPACE_OF_PRODUCT, Choice, ResolvedLayer, atlas_layer_name

IKEY = ("username", "request_name", "sample_name", "imaging_request_number")


def ikey_of(key: dict) -> dict:
    return {k: key[k] for k in IKEY}


def get_imaging_request(ikey: dict) -> dict | None:
    rows = (get_schemas().lightsheet.Request.ImagingRequest & ikey_of(ikey)).to_dicts()
    return rows[0] if rows else None


def get_processing_request(pkey: dict) -> dict | None:
    rows = (get_schemas().lightsheet.Request.ProcessingRequest & pkey).to_dicts()
    return rows[0] if rows else None


def single_tile_lavision_channels(ikey: dict) -> list[dict]:
    """Imaging channels that get raw-data layers: LaVision resolutions, one tile."""
    rows = (get_schemas().lightsheet.Request.ImagingChannel & ikey_of(ikey)).to_dicts(
        order_by=["image_resolution", "ventral_up", "channel_name"]
    )
    return [
        r
        for r in rows
        if MICROSCOPE_OF_RESOLUTION.get(r["image_resolution"]) == "lavision" and r["tiling_scheme"] == "1x1"
    ]


def channel_purposes(ikey: dict) -> dict[tuple[str, bool, str], tuple[str, ...]]:
    """(resolution, ventral_up, channel) -> what the channel was imaged for (ImagingChannel purpose columns)."""
    rows = (get_schemas().lightsheet.Request.ImagingChannel & ikey_of(ikey)).to_dicts()
    return {
        (r["image_resolution"], bool(r["ventral_up"]), r["channel_name"]): tuple(p for p in PURPOSE_WORDS if r[p])
        for r in rows
    }


def list_layers(ikey: dict, processing_request_number: int | None = None) -> list[dict]:
    """Raw layers of the imaging request, plus (with a processing request number) that request's layers."""
    numbers = [0] if processing_request_number is None else [0, processing_request_number]
    table = get_schemas().lightsheet.Request.DataLayer & ikey_of(ikey)
    rows = (table & [{"processing_request_number": n} for n in numbers]).to_dicts(
        order_by=["image_resolution", "ventral_up", "product", "channel_name", "lightsheet"]
    )
    for row in rows:
        row["ventral_up"] = bool(row["ventral_up"])
    return rows


def atlas_of_resolution(pkey: dict) -> dict[tuple[str, bool], str]:
    """(resolution, ventral_up) -> registration atlas of the processing request."""
    rows = (get_schemas().lightsheet.Request.ProcessingResolutionRequest & pkey).to_dicts()
    return {(r["image_resolution"], bool(r["ventral_up"])): r["atlas_name"] for r in rows}


def get_atlas(atlas_name: str) -> dict | None:
    rows = (get_schemas().lightsheet.Atlas & {"atlas_name": atlas_name}).to_dicts()
    return rows[0] if rows else None


def atlas_folder(atlas: dict) -> Path:
    return Path(current_app.config["SETTINGS"].atlas_root) / atlas["precomputed_path"]


def _layer_key(spec: dict, choice: Choice) -> dict:
    req, group = spec["request"], spec["group"]
    return {
        "username": req["username"],
        "request_name": req["request_name"],
        "sample_name": group["sample_name"],
        "imaging_request_number": group["imaging_request_number"],
        "processing_request_number": 0 if choice.product == "raw" else group["processing_request_number"],
        "image_resolution": group["image_resolution"],
        "ventral_up": int(bool(group["ventral_up"])),
        "channel_name": choice.channel,
        "product": choice.product,
        "lightsheet": choice.lightsheet,
    }


def choices_of(spec: dict) -> list[Choice]:
    return [
        Choice(str(c["product"]), str(c["channel"]), str(c.get("lightsheet", "none")), bool(c.get("atlas_overlay")))
        for c in spec.get("layers") or []
    ]


def resolve_spec(spec: dict) -> tuple[list[ResolvedLayer], list[str]]:
    """The layers of a link that are ready now, with absolute folders, and a warning per layer left out."""
    settings = current_app.config["SETTINGS"]
    data_root = Path(settings.data_root)
    ls = get_schemas().lightsheet
    resolved: list[ResolvedLayer] = []
    warnings: list[str] = []
    wants_atlas = bool(spec.get("atlas_only"))
    group = spec.get("group") or {}
    space = group.get("space")
    purposes = channel_purposes(spec["request"] | group) if spec.get("request") else {}
    for choice in choices_of(spec):
        words = layer_words(choice.product, choice.channel, choice.lightsheet)
        if SPACE_OF_PRODUCT.get(choice.product) != space:
            warnings.append(f"The layer {words} does not belong to this view and was left out.")
            continue
        rows = (ls.Request.DataLayer & _layer_key(spec, choice)).to_dicts()
        if not rows or rows[0]["status"] != "ready":
            warnings.append(f"The layer {words} is no longer available and was left out.")
            continue
        row = rows[0]
        resolved.append(
            ResolvedLayer(
                name=row["layer_name"],
                type=row["layer_type"],
                host_path=str(data_root / row["layer_path"]),
                product=choice.product,
                channel=choice.channel,
                lightsheet=choice.lightsheet,
                atlas_overlay=choice.atlas_overlay and choice.product == "registered",
                source_path=row["source_path"],
                layer_path=row["layer_path"],
                label=layer_label(
                    choice.product,
                    choice.channel,
                    choice.lightsheet,
                    purposes.get((group["image_resolution"], bool(group["ventral_up"]), choice.channel), ()),
                ),
            )
        )
        wants_atlas = wants_atlas or (choice.atlas_overlay and choice.product == "registered")
    atlas_name = spec.get("atlas_name")
    if wants_atlas and atlas_name:
        atlas = get_atlas(atlas_name)
        folder = atlas_folder(atlas) if atlas else None
        if atlas is None or not atlas["is_active"] or folder is None or not (folder / "info").is_file():
            warnings.append(f"The atlas overlay ({atlas_name}) is not installed and was left out.")
        else:
            resolved.append(
                ResolvedLayer(
                    name=atlas_layer_name(atlas_name),
                    type="segmentation",
                    host_path=str(folder),
                    product="atlas",
                    layer_path=atlas["precomputed_path"],
                    label=atlas_label(atlas_name),
                )
            )
    return resolved, warnings
