"""Validation of a session body. Nothing is started until all of it passes.

The caller never chooses an image or a container option: it names layers (name, type, folder; optionally the
label Neuroglancer shows and an image's contrast range), the session's access key (handed to its servers,
which then answer only browsers with the portal's cookie) and the neuroglancer settings. Every folder must be
absolute and, after resolving symbolic links, lie inside an allowed mount root, be a directory and contain
`info`. The public base URL must be the configured one, so a caller cannot point a viewer at another host.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
TOKEN_RE = SESSION_ID_RE
LAYER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # also a URL path segment: no ".", ".."
OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
ACCESS_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
LAYER_TYPES = ("image", "segmentation", "annotation")
LABEL_MAX, TITLE_MAX = 80, 128
VARIANTS = ("general", "registration")
#: role of the server that serves each layer type
ROLE_OF_TYPE = {"image": "cloudvolume", "segmentation": "cloudvolume", "annotation": "annotation"}


class SpecError(ValueError):
    """A refused body: HTTP status, message and (when one is to blame) the layer's name."""

    def __init__(self, message: str, layer: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.layer = layer
        self.status = status

    def body(self) -> dict[str, str]:
        out = {"error": self.message}
        if self.layer:
            out["layer"] = self.layer
        return out


@dataclass(frozen=True)
class LayerSpec:
    name: str
    type: str
    host_path: Path  # resolved, inside an allowed root
    info: dict[str, Any]  # {"voxel_nm": [...], "lower": [...], "upper": [...]} for the neuroglancer state
    label: str = ""  # the name Neuroglancer shows; `name` is the route and source
    range: tuple[float, float] | None = None  # image contrast: the values shown black and white

    @property
    def role(self) -> str:
        return ROLE_OF_TYPE[self.type]


@dataclass(frozen=True)
class SessionSpec:
    session_id: str
    owner: str
    variant: str
    layers: tuple[LayerSpec, ...]
    token: str
    access_key: str
    public_base_url: str
    layout: list[list[list[str]]]
    gain: float
    title: str = ""

    def source_of(self, layer: str) -> str:
        return f"precomputed://{self.public_base_url.rstrip('/')}/cv/{self.session_id}/{layer}"


def within(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def resolve_mount(raw: Any, roots: tuple[Path, ...], layer: str) -> Path:
    """The resolved folder of a layer, or SpecError naming it (absolute, inside a root, a layer folder)."""
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise SpecError("host_path must be a non-empty string", layer)
    if not os.path.isabs(raw):
        raise SpecError(f"host_path of layer {layer} must be absolute", layer)
    real = Path(os.path.realpath(raw))
    if not within(real, roots):
        raise SpecError(f"host_path of layer {layer} is outside the allowed mount roots", layer)
    if not real.is_dir():
        raise SpecError(f"host_path of layer {layer} is not a folder", layer)
    if not (real / "info").is_file():
        raise SpecError(f"host_path of layer {layer} has no info file", layer)
    return real


def summarize_info(folder: Path, kind: str, layer: str) -> dict[str, Any]:
    """Voxel size (nm) and bounds of the layer from its `info`."""
    try:
        info = json.loads((folder / "info").read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(f"the info file of layer {layer} is not readable JSON", layer) from exc
    try:
        if kind == "annotation":
            dims = info["dimensions"]
            voxel = [float(dims[a][0]) * _unit_nm(dims[a][1]) for a in "xyz"]
            lower = [float(v) for v in info.get("lower_bound", [0, 0, 0])]
            upper = [float(v) for v in info["upper_bound"]]
        else:
            scale = info["scales"][0]
            voxel = [float(v) for v in scale["resolution"]]
            lower = [float(v) for v in scale.get("voxel_offset", [0, 0, 0])]
            upper = [lo + float(s) for lo, s in zip(lower, scale["size"], strict=True)]
            if info.get("type") not in (None, kind):
                raise SpecError(f"layer {layer} is a {info.get('type')} layer, not {kind}", layer)
        if len(voxel) != 3 or len(lower) != 3 or len(upper) != 3:
            raise ValueError("three axes expected")
    except SpecError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SpecError(f"the info file of layer {layer} is not a precomputed {kind} info", layer) from exc
    return {"voxel_nm": voxel, "lower": lower, "upper": upper}


def _unit_nm(unit: str) -> float:
    return {"m": 1e9, "mm": 1e6, "um": 1e3, "µm": 1e3, "nm": 1.0}[unit]


def parse_session(body: Any, roots: tuple[Path, ...], max_layers: int, *, public_base_url: str) -> SessionSpec:
    if not isinstance(body, dict):
        raise SpecError("the body must be a JSON object")
    sid = body.get("session_id")
    if not isinstance(sid, str) or not SESSION_ID_RE.match(sid):
        raise SpecError("session_id must be 32 lower-case hex digits")
    owner = body.get("owner")
    if not isinstance(owner, str) or not OWNER_RE.match(owner):
        raise SpecError("owner must be a user name")
    variant = body.get("variant")
    if variant not in VARIANTS:
        raise SpecError(f"variant must be one of {', '.join(VARIANTS)}")
    raw_layers = body.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError("layers must be a non-empty list")
    if len(raw_layers) > max_layers:
        raise SpecError(f"at most {max_layers} layers per session")
    names: set[str] = set()
    checked: list[tuple[str, str, Any]] = []
    for item in raw_layers:
        if not isinstance(item, dict):
            raise SpecError("every layer must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not LAYER_NAME_RE.match(name):
            raise SpecError(
                "layer names are 1-64 letters, digits, '_' or '-', starting with a letter or digit",
                name if isinstance(name, str) else None,
            )
        if name in names:
            raise SpecError(f"layer {name} appears twice", name)
        names.add(name)
        kind = item.get("type")
        if kind not in LAYER_TYPES:
            raise SpecError(f"layer {name}: type must be one of {', '.join(LAYER_TYPES)}", name)
        unknown = sorted(set(item) - {"name", "type", "host_path", "label", "range"})
        if unknown:
            raise SpecError(f"layer {name}: unknown field(s) {', '.join(unknown)}", name)
        label = _text(item.get("label", name), LABEL_MAX, f"layer {name}: label", name)
        span = _range(item["range"], name) if "range" in item else None
        if span and kind != "image":
            raise SpecError(f"layer {name}: only image layers have a range", name)
        checked.append((name, kind, item.get("host_path"), label, span))
    layers = []
    for name, kind, raw_path, label, span in checked:
        folder = resolve_mount(raw_path, roots, name)
        layers.append(LayerSpec(name, kind, folder, summarize_info(folder, kind, name), label, span))
    ng = body.get("neuroglancer")
    if not isinstance(ng, dict):
        raise SpecError("neuroglancer settings are required")
    token = ng.get("token")
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise SpecError("neuroglancer.token must be 32 lower-case hex digits")
    access_key = body.get("access_key")
    if not isinstance(access_key, str) or not ACCESS_KEY_RE.match(access_key):
        raise SpecError("access_key must be 64 lower-case hex digits")
    base = ng.get("public_base_url")
    if not isinstance(base, str) or base.rstrip("/") != public_base_url.rstrip("/"):
        raise SpecError("neuroglancer.public_base_url must be the launcher's configured PUBLIC_BASE_URL")
    gain = ng.get("gain", 45)
    if not isinstance(gain, int | float) or isinstance(gain, bool) or not 0 < gain <= 10000:
        raise SpecError("neuroglancer.gain must be a number between 0 and 10000")
    layout = _layout(ng.get("layout"), names)
    title = _text(ng.get("title", "lightserv"), TITLE_MAX, "neuroglancer.title")
    extra = sorted(set(body) - {"session_id", "owner", "variant", "layers", "access_key", "neuroglancer"})
    if extra:
        raise SpecError(f"unknown field(s) {', '.join(extra)}")
    return SessionSpec(
        sid, owner, variant, tuple(layers), token, access_key, base.rstrip("/"), layout, float(gain), title
    )


def _text(value: Any, limit: int, what: str, layer: str | None = None) -> str:
    """A name shown to people: 1-`limit` printable characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
        raise SpecError(f"{what} must be 1-{limit} printable characters", layer)
    return value


def _range(value: Any, layer: str) -> tuple[float, float]:
    numbers = isinstance(value, list) and len(value) == 2
    numbers = numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not numbers or not all(math.isfinite(v) for v in value) or not value[0] < value[1]:
        raise SpecError(f"layer {layer}: range must be two finite numbers, the first below the second", layer)
    return float(value[0]), float(value[1])


def _layout(raw: Any, names: set[str]) -> list[list[list[str]]]:
    if raw is None:
        return [[[n] for n in sorted(names)]]
    if not isinstance(raw, list) or not raw or len(raw) > 64:
        raise SpecError("neuroglancer.layout must be a non-empty list of rows")
    rows = []
    for row in raw:
        if not isinstance(row, list) or not row or len(row) > 64:
            raise SpecError("every layout row must be a non-empty list of panels")
        panels = []
        for panel in row:
            members = [panel] if isinstance(panel, str) else panel
            if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
                raise SpecError("a layout panel is a layer name or a list of layer names")
            unknown = [m for m in members if m not in names]
            if unknown:
                raise SpecError(f"the layout names unknown layer {unknown[0]}", unknown[0])
            panels.append(members)
        rows.append(panels)
    return rows
