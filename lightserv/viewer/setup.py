"""The setup pages' tables, their default choices and the parsing of their POST. No Flask routing here.

A checkbox's value names one layer of the page: `<resolution>|<ventral_up 0/1>|<product>|<channel>|<sheet>`;
"Show?" boxes are named `layer`, "Overlay atlas?" boxes `overlay`. The server re-checks everything the page
shows: unknown or no-longer-ready layers, overlay without its layer, the per-view maximum.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from lightserv.layers.labels import layer_words

from .groups import SPACE_OF_PRODUCT, Choice, GroupKey

PRODUCT_TABLES = [
    ("raw", "Raw"),
    ("stitched", "Stitched"),
    ("blended", "Blended"),
    ("corrected", "Corrected"),
    ("cells", "Cells"),
    ("downsized", "Downsized"),
    ("registered", "Registered"),
    ("cells_registered", "Registered cells"),
]
SHEETED = ("raw", "stitched")
#: a channel's full-resolution image, best first (LaVision: blended; SmartSPIM: destriped)
FULL_IMAGES = ("blended", "corrected")
STATE_LABELS = {"pending": "converting", "converting": "converting", "failed": "failed", "ready": "ready"}
MSG_NONE_RAW = "Choose at least one light sheet to display."
MSG_NONE = "Choose at least one layer to display."
MSG_OVERLAY = "The atlas overlay needs the registered layer."
MSG_TOO_MANY = "Choose at most {n} layers per view."


def words_of(layer: dict) -> str:
    """A DataLayer row as the page names it: "488 nm · blended full-resolution planes"."""
    return layer_words(layer["product"], layer["channel_name"], layer["lightsheet"])


def value_of(layer: dict) -> str:
    return "|".join(
        [layer["image_resolution"], str(int(bool(layer["ventral_up"]))), layer["product"], layer["channel_name"],
         layer["lightsheet"]]
    )  # fmt: skip


@dataclass
class Cell:
    """One checkbox (or the reason there is none)."""

    state: str  # ready, converting, failed, na (sheet not used), missing
    value: str = ""
    layer_name: str = ""
    label: str = ""

    @property
    def enabled(self) -> bool:
        return self.state == "ready"

    @property
    def text(self) -> str:
        return {"na": "N/A", "missing": "not available"}.get(self.state, STATE_LABELS.get(self.state, self.state))


@dataclass
class Row:
    channel: str
    cells: dict[str, Cell]  # "left"/"right" for sheeted products, "show" (and "overlay") otherwise
    layer: dict | None = None

    @property
    def words(self) -> str:
        return words_of(self.layer) if self.layer else ""


@dataclass
class Table:
    product: str
    title: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Section:
    image_resolution: str
    ventral_up: bool
    tables: list[Table] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.image_resolution}, {'ventral' if self.ventral_up else 'dorsal'} side up"

    @property
    def anchor(self) -> str:
        return f"res-{self.image_resolution}-{int(self.ventral_up)}"


def _cell(layer: dict | None, label: str) -> Cell:
    if layer is None:
        return Cell("missing", label=label)
    state = "ready" if layer["status"] == "ready" else ("failed" if layer["status"] == "failed" else "converting")
    return Cell(state, value_of(layer), layer["layer_name"], label)


def raw_sections(channels: list[dict], layers: list[dict]) -> list[Section]:
    """One table per resolution and side, one row per single-tile LaVision channel."""
    by_key = {(x["image_resolution"], x["ventral_up"], x["channel_name"], x["lightsheet"]): x
              for x in layers if x["product"] == "raw"}  # fmt: skip
    sections: dict[tuple[str, bool], Section] = {}
    for ch in channels:
        vu = bool(ch["ventral_up"])
        key = (ch["image_resolution"], vu)
        section = sections.setdefault(key, Section(ch["image_resolution"], vu, [Table("raw", "Raw")]))
        cells = {}
        for sheet in ("left", "right"):
            label = f"{sheet.title()} light sheet, channel {ch['channel_name']}, {ch['image_resolution']}"
            if not ch[f"{sheet}_lightsheet_used"]:
                cells[sheet] = Cell("na", label=label)
            else:
                cells[sheet] = _cell(by_key.get((ch["image_resolution"], vu, ch["channel_name"], sheet)), label)
        section.tables[0].rows.append(Row(ch["channel_name"], cells))
    return list(sections.values())


def general_sections(layers: list[dict]) -> list[Section]:
    """Per resolution and side, a table per product that has at least one ready layer."""
    grouped: dict[tuple[str, bool], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for layer in layers:
        grouped[(layer["image_resolution"], layer["ventral_up"])][layer["product"]].append(layer)
    sections = []
    for (res, vu), products in sorted(grouped.items()):
        section = Section(res, vu)
        for product, title in PRODUCT_TABLES:
            rows_of = products.get(product, [])
            if not any(x["status"] == "ready" for x in rows_of):
                continue
            table = Table(product, title)
            if product in SHEETED:
                for channel in sorted({x["channel_name"] for x in rows_of}):
                    by_sheet = {x["lightsheet"]: x for x in rows_of if x["channel_name"] == channel}
                    cells = {
                        sheet: _cell(by_sheet.get(sheet), f"{title}, {sheet} light sheet, channel {channel}")
                        if sheet in by_sheet else Cell("na", label=f"{title}, {sheet} light sheet, channel {channel}")
                        for sheet in ("left", "right")
                    }  # fmt: skip
                    table.rows.append(Row(channel, cells))
            else:
                for layer in sorted(rows_of, key=lambda x: (x["channel_name"], x["layer_name"])):
                    cells = {"show": _cell(layer, f"Show {words_of(layer)}")}
                    if product == "registered":
                        cells["overlay"] = _cell(layer, f"Overlay atlas on {words_of(layer)}")
                    table.rows.append(Row(layer["channel_name"], cells, layer))
            section.tables.append(table)
        if section.tables:
            sections.append(section)
    return sections


def default_checked(layers: list[dict], purposes: dict[tuple[str, bool, str], tuple[str, ...]]) -> set[str]:
    """The boxes ticked when the page opens: one view per purpose. A registration channel: its registered layer
    with the atlas; a cell-detection channel: its full-resolution image with its detected cells; any other
    channel (or one whose registered layer is not ready): its full-resolution image. Raw and stitched sheets,
    downsized and registered copies of other channels only when the researcher ticks them."""
    ready = {(x["image_resolution"], x["ventral_up"], x["channel_name"], x["product"]): value_of(x)
             for x in layers if x["status"] == "ready" and x["lightsheet"] == "none"}  # fmt: skip
    checked: set[str] = set()
    for res, vu, channel in sorted({key[:3] for key in ready}):
        wants = purposes.get((res, vu, channel), ())
        registered = ready.get((res, vu, channel, "registered"))
        if "registration" in wants and registered:
            checked |= {registered, f"overlay:{registered}"}
            continue
        full = next((ready[k] for p in FULL_IMAGES if (k := (res, vu, channel, p)) in ready), None)
        cells = ready.get((res, vu, channel, "cells")) if "cell_detection" in wants else None
        checked |= {v for v in (full, cells) if v}
    return checked


@dataclass
class Parsed:
    groups: dict[GroupKey, list[Choice]]
    errors: list[str]
    row_errors: dict[str, str]  # checkbox value -> message shown next to it
    checked: set[str]


def parse_choices(
    chosen: list[str],
    overlays: list[str],
    layers: list[dict],
    *,
    sample_name: str,
    imaging_request_number: int,
    processing_request_number: int,
    max_layers: int,
    raw_only: bool,
) -> Parsed:
    known = {value_of(x): x for x in layers if not raw_only or x["product"] == "raw"}
    errors: list[str] = []
    row_errors: dict[str, str] = {}
    checked = set(chosen) | {f"overlay:{v}" for v in overlays}
    if not chosen and not overlays:
        errors.append(MSG_NONE_RAW if raw_only else MSG_NONE)
    for value in overlays:
        if raw_only or value not in chosen:
            errors.append(MSG_OVERLAY)
            row_errors[f"overlay:{value}"] = MSG_OVERLAY
    picked: list[dict] = []
    for value in dict.fromkeys(chosen):
        layer = known.get(value)
        if layer is None or layer["status"] != "ready":
            message = f"The layer {words_of(layer) if layer else value[:80]} is no longer available."
            errors.append(message)
            row_errors[value] = message
            continue
        picked.append(layer)
    groups: dict[GroupKey, list[Choice]] = defaultdict(list)
    overlay_set = set(overlays)
    for layer in picked:
        key = GroupKey(
            sample_name,
            imaging_request_number,
            processing_request_number,
            layer["image_resolution"],
            bool(layer["ventral_up"]),
            SPACE_OF_PRODUCT[layer["product"]],
        )
        groups[key].append(
            Choice(layer["product"], layer["channel_name"], layer["lightsheet"], value_of(layer) in overlay_set)
        )
    for choices in groups.values():
        count = len(choices) + (1 if any(c.atlas_overlay for c in choices) else 0)
        if count > max_layers:
            errors.append(MSG_TOO_MANY.format(n=max_layers))
            break
    return Parsed(dict(groups), list(dict.fromkeys(errors)), row_errors, checked)
