"""The initial Neuroglancer state of a viewer session, as plain JSON.

Shared by the `general` (neuroglancer/server.py) and `registration` (neuroglancer-registration/server.py)
programs. No neuroglancer import here, so the state can be built and tested anywhere.

Input, from the environment (the launcher writes it):

    NG_LAYERS  [{"name": ..., "type": "image" | "segmentation" | "annotation", "source": "precomputed://...",
                 "info": {"voxel_nm": [x, y, z], "lower": [x, y, z], "upper": [x, y, z]},
                 "label": "647 nm · cells" (optional: the name Neuroglancer shows, else `name`),
                 "range": [low, high] (optional, images: the values shown black and white)}, ...]
    NG_LAYOUT  rows of panels; a panel is a layer name or a list of layer names shown together, e.g.
               [["raw_ch488_left", "raw_ch488_right"], [["blended_ch647", "cells_ch647"]]]
    NG_GAIN    images without a range: displayed value = normalized value x gain (default 45)
    NG_TITLE   the browser tab's title (optional)

Layer names in the layout are the route names (`/cv/<session>/<name>`); the state names every layer by its
label, so the layout's panels are translated.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

LAYER_TYPES = ("image", "segmentation", "annotation")
DEFAULT_GAIN = 45.0
#: the size (pixels) a panel is assumed to have when choosing the initial zoom
PANEL_WIDTH_PX = 560
PANEL_HEIGHT_PX = 380


class StateError(ValueError):
    """The environment does not describe a valid view; the message names the problem."""


def image_shader(gain: float) -> str:
    """Grayscale; displayed value = normalized value x gain, with a slider in the layer panel."""
    top = max(200.0, math.ceil(gain * 2))
    return (
        f"#uicontrol float gain slider(min=0, max={top:g}, step=0.5, default={gain:g})\n"
        "void main() {\n"
        "  emitGrayscale(toNormalized(getDataValue()) * gain);\n"
        "}\n"
    )


def range_shader(low: float, high: float) -> str:
    """Grayscale over the data's own range (low black, high white), with Neuroglancer's contrast control."""
    return (
        f"#uicontrol invlerp normalized(range=[{low:g}, {high:g}])\n"
        "void main() {\n"
        "  emitGrayscale(normalized());\n"
        "}\n"
    )


ANNOTATION_SHADER = "void main() {\n  setColor(vec3(1.0, 0.25, 0.2));\n  setPointMarkerSize(6.0);\n}\n"


def _panels(layout: Any, names: set[str]) -> list[list[list[str]]]:
    if not isinstance(layout, list) or not layout:
        raise StateError("NG_LAYOUT must be a non-empty list of rows")
    rows: list[list[list[str]]] = []
    for row in layout:
        if not isinstance(row, list) or not row:
            raise StateError("every row of NG_LAYOUT must be a non-empty list of panels")
        panels = []
        for panel in row:
            members = [panel] if isinstance(panel, str) else panel
            if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
                raise StateError("a panel is a layer name or a list of layer names")
            unknown = [m for m in members if m not in names]
            if unknown:
                raise StateError(f"NG_LAYOUT names unknown layer(s): {', '.join(unknown)}")
            panels.append(list(dict.fromkeys(members)))
        rows.append(panels)
    return rows


def _vec(value: Any, what: str) -> list[float]:
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, int | float) for v in value):
        raise StateError(f"{what} must be three numbers")
    return [float(v) for v in value]


def _range(layer: Mapping[str, Any]) -> tuple[float, float] | None:
    value = layer.get("range")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int | float) for v in value):
        raise StateError(f"layer {layer['name']}: range must be two numbers")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise StateError(f"layer {layer['name']}: range must be finite, low below high")
    return low, high


def display_names(layers: list[Mapping[str, Any]]) -> dict[str, str]:
    """Route name -> the name Neuroglancer shows: the label, made unique with the route name if it repeats."""
    out: dict[str, str] = {}
    for layer in layers:
        label = layer.get("label") or layer["name"]
        if not isinstance(label, str):
            raise StateError(f"layer {layer['name']}: label must be text")
        out[layer["name"]] = label if label not in out.values() else f"{label} ({layer['name']})"
    return out


def layer_json(layer: Mapping[str, Any], gain: float, variant: str, name: str | None = None) -> dict[str, Any]:
    kind = layer["type"]
    out: dict[str, Any] = {"type": kind, "source": layer["source"], "name": name or layer["name"]}
    if kind == "image":
        span = _range(layer)
        if span:
            out["shader"] = range_shader(*span)
        else:
            out["shader"] = image_shader(gain)
            out["shaderControls"] = {"gain": gain}
        out["opacity"] = 1.0
    elif kind == "segmentation":
        # the atlas overlay: semi-transparent in every panel that shows it, region names from the
        # layer's segment_properties (listed in its info) appear on hover and in the segment list
        out["selectedAlpha"] = 0.35
        out["notSelectedAlpha"] = 0.15
        out["objectAlpha"] = 0.6
        out["hideSegmentZero"] = True
        if variant == "registration":
            out["segmentQuery"] = ""
    else:
        out["shader"] = ANNOTATION_SHADER
        out["annotationColor"] = "#ff4030"
    return out


def build_state(
    layers: list[Mapping[str, Any]], layout: Any, gain: float = DEFAULT_GAIN, variant: str = "general", title: str = ""
) -> dict[str, Any]:
    """The Neuroglancer state JSON: layers named by their labels with their shaders, one `xy` panel per layout
    entry (rows of panels), the coordinate space, start position and zoom from the first image layer's `info`."""
    if not layers:
        raise StateError("NG_LAYERS lists no layer")
    by_name: dict[str, Mapping[str, Any]] = {}
    for layer in layers:
        name = layer.get("name")
        if not isinstance(name, str) or not name:
            raise StateError("every layer needs a name")
        if name in by_name:
            raise StateError(f"layer {name} appears twice")
        if layer.get("type") not in LAYER_TYPES:
            raise StateError(f"layer {name}: type must be one of {', '.join(LAYER_TYPES)}")
        if not isinstance(layer.get("source"), str) or "://" not in layer["source"]:
            raise StateError(f"layer {name}: source must be a URL")
        by_name[name] = layer
    rows = _panels(layout, set(by_name))
    shown = [n for row in rows for panel in row for n in panel]
    ordered = list(dict.fromkeys(shown + [n for n in by_name if n not in shown]))
    reference = next((by_name[n] for n in ordered if by_name[n]["type"] == "image"), by_name[ordered[0]])
    info = reference.get("info") or {}
    voxel = _vec(info.get("voxel_nm"), f"layer {reference['name']}: voxel_nm")
    lower = _vec(info.get("lower", [0, 0, 0]), f"layer {reference['name']}: lower")
    upper = _vec(info.get("upper"), f"layer {reference['name']}: upper")
    if min(voxel) <= 0:
        raise StateError(f"layer {reference['name']}: voxel sizes must be positive")
    extent = [max(1.0, u - lo) for lo, u in zip(lower, upper, strict=True)]
    n_cols = max(len(row) for row in rows)
    n_rows = len(rows)
    scale = max(extent[0] * n_cols / (PANEL_WIDTH_PX * 2), extent[1] * n_rows / (PANEL_HEIGHT_PX * 2))
    shown_as = display_names([by_name[n] for n in ordered])
    children = []
    for row in rows:
        viewers = [{"type": "viewer", "layers": [shown_as[n] for n in panel], "layout": "xy"} for panel in row]
        children.append(viewers[0] if len(viewers) == 1 else {"type": "row", "children": viewers})
    layout_json: dict[str, Any] | str
    if len(children) == 1:
        layout_json = children[0]
    else:
        layout_json = {"type": "column", "children": children}
    state: dict[str, Any] = {
        "dimensions": {axis: [v * 1e-9, "m"] for axis, v in zip("xyz", voxel, strict=True)},
        "position": [lo + e / 2 for lo, e in zip(lower, extent, strict=True)],
        "crossSectionScale": max(scale, 1e-3),
        "projectionScale": max(extent) * 2,
        "layers": [layer_json(by_name[n], gain, variant, shown_as[n]) for n in ordered],
        "layout": layout_json,
        "showSlices": False,
    }
    if title:
        state["title"] = title
    atlas = [n for n in ordered if by_name[n]["type"] == "segmentation"]
    if variant == "registration" and atlas:
        state["selectedLayer"] = {"layer": shown_as[atlas[0]], "visible": False}
    return state


def state_from_env(env: Mapping[str, str] | None = None, variant: str | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    try:
        layers = json.loads(env.get("NG_LAYERS", ""))
        layout = json.loads(env.get("NG_LAYOUT", ""))
    except ValueError as exc:
        raise StateError(f"NG_LAYERS and NG_LAYOUT must be JSON: {exc}") from exc
    if not isinstance(layers, list):
        raise StateError("NG_LAYERS must be a list")
    try:
        gain = float(env.get("NG_GAIN", DEFAULT_GAIN))
    except ValueError as exc:
        raise StateError("NG_GAIN must be a number") from exc
    return build_state(layers, layout, gain, variant or env.get("NG_VARIANT", "general"), env.get("NG_TITLE", ""))
