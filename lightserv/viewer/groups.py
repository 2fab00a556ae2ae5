"""View groups, link specs and panel layouts (layer names in words: lightserv.layers.labels). Pure functions, no
database.

A session shows layers of one coordinate space: one sample, imaging request, processing request, resolution
and side, and one of three spaces: full resolution, downsized, atlas.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightserv.layers.labels import ANNOTATION_PRODUCTS, atlas_label, layer_words

#: coordinate space of each product
SPACE_OF_PRODUCT = {
    "raw": "full",
    "stitched": "full",
    "blended": "full",
    "corrected": "full",
    "cells": "full",
    "downsized": "downsized",
    "registered": "atlas",
    "cells_registered": "atlas",
}
SPACE_LABELS = {"full": "full resolution", "downsized": "downsized", "atlas": "atlas"}
SPACES = ("full", "downsized", "atlas")
VARIANT_OF_SPACE = {"full": "general", "downsized": "general", "atlas": "registration"}
#: order of image layers inside one channel's row
PANEL_ORDER = [
    ("raw", "left"),
    ("raw", "right"),
    ("stitched", "left"),
    ("stitched", "right"),
    ("blended", "none"),
    ("corrected", "none"),
    ("downsized", "none"),
    ("registered", "none"),
]
SPEC_VERSION = 1


@dataclass(frozen=True)
class Choice:
    """One layer chosen on a setup page (or stored in a link)."""

    product: str
    channel: str
    lightsheet: str = "none"
    atlas_overlay: bool = False

    def as_spec(self) -> dict:
        return {
            "product": self.product,
            "channel": self.channel,
            "lightsheet": self.lightsheet,
            "atlas_overlay": self.atlas_overlay,
        }


@dataclass(frozen=True)
class GroupKey:
    sample_name: str
    imaging_request_number: int
    processing_request_number: int
    image_resolution: str
    ventral_up: bool
    space: str

    def as_spec(self) -> dict:
        return {
            "sample_name": self.sample_name,
            "imaging_request_number": self.imaging_request_number,
            "processing_request_number": self.processing_request_number,
            "image_resolution": self.image_resolution,
            "ventral_up": self.ventral_up,
            "space": self.space,
        }


def group_title(group: dict) -> str:
    """"1.3x, dorsal, full resolution" (an atlas-only view: the atlas's label)."""
    if not group.get("image_resolution"):
        return "Atlas"
    side = "ventral" if group.get("ventral_up") else "dorsal"
    return f"{group['image_resolution']}, {side}, {SPACE_LABELS[group['space']]}"


def link_title(spec: dict) -> str:
    if spec.get("atlas_only"):
        return f"Atlas: {atlas_label(spec.get('atlas_name', ''))}"
    req = spec.get("request") or {}
    group = spec.get("group") or {}
    title = f"{req.get('request_name', '')} / {group.get('sample_name', '')}: {group_title(group)}"
    return title[:128]


def build_spec(
    username: str, request_name: str, group: GroupKey, choices: list[Choice], atlas_name: str | None
) -> dict:
    spec = {
        "version": SPEC_VERSION,
        "request": {"username": username, "request_name": request_name},
        "group": group.as_spec(),
        "layers": [c.as_spec() for c in choices],
    }
    if group.space == "atlas" and atlas_name:
        spec["atlas_name"] = atlas_name
    return spec


def atlas_spec(atlas_name: str) -> dict:
    return {"version": SPEC_VERSION, "request": None, "group": {"space": "atlas"}, "layers": [],
            "atlas_name": atlas_name, "atlas_only": True}  # fmt: skip


def atlas_layer_name(atlas_name: str) -> str:
    return f"atlas_{atlas_name}"


@dataclass(frozen=True)
class ResolvedLayer:
    """A layer of a session as launched: name, type, absolute folder, and what it shows."""

    name: str
    type: str
    host_path: str
    product: str  # "atlas" for the atlas overlay
    channel: str = ""
    lightsheet: str = "none"
    atlas_overlay: bool = False
    source_path: str = ""
    layer_path: str = ""
    label: str = ""  # the name Neuroglancer shows ("647 nm · cells"); `name` stays the route and source name

    @property
    def words(self) -> str:
        """The layer on a page: "488 nm · blended full-resolution planes"; the atlas by its name."""
        return self.label if self.product == "atlas" else layer_words(self.product, self.channel, self.lightsheet)


def layout(layers: list[ResolvedLayer], space: str) -> list[list[list[str]]]:
    """Rows of panels (each panel: layer names shown together), one panel per purpose:

    - full resolution: one row per channel, the channel's image layers side by side (left sheet, right
      sheet, stitched, blended, corrected); its cell layers in each of its panels; when every channel has
      one panel, the channels side by side in one row;
    - downsized: one row, one panel per layer;
    - atlas: one panel per registered layer; the atlas in the panels that asked for the overlay; registered
      cells in their channel's panels."""
    atlas = next((layer.name for layer in layers if layer.product == "atlas"), None)
    images = [layer for layer in layers if layer.type == "image"]
    cells = [layer for layer in layers if layer.product in ANNOTATION_PRODUCTS]
    rank = {key: i for i, key in enumerate(PANEL_ORDER)}

    def order(layer: ResolvedLayer) -> tuple[int, str]:
        return rank.get((layer.product, layer.lightsheet), len(rank)), layer.name

    if space == "downsized":
        return [[[layer.name] for layer in sorted(images, key=lambda x: (x.channel, order(x)))]] or [[[layers[0].name]]]
    channels = sorted({layer.channel for layer in images} | {layer.channel for layer in cells})
    rows: list[list[list[str]]] = []
    atlas_row: list[list[str]] = []
    for channel in channels:
        own_cells = [c.name for c in cells if c.channel == channel]
        panels = []
        for image in sorted((i for i in images if i.channel == channel), key=order):
            panel = [image.name, *own_cells]
            if atlas and image.atlas_overlay:
                panel.append(atlas)
            panels.append(panel)
        if not panels:
            panels = [own_cells]
        if space == "atlas":
            atlas_row.extend(panels)
        else:
            rows.append(panels)
    if space == "atlas":
        if not atlas_row and atlas:
            atlas_row = [[atlas]]
        rows = [atlas_row] if atlas_row else []
    elif len(rows) > 1 and all(len(row) == 1 for row in rows):
        rows = [[row[0] for row in rows]]
    return rows or [[[layers[0].name]]]
