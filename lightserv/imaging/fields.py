"""The field rules of the imaging forms, as plain functions (no Flask): each returns the cleaned values and
the messages, so the batch form, the sample form and the services share one definition."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.enums import ORIENTATION

#: batch-level columns: what "apply batch parameters to all samples" copies, and nothing else
BATCH_COLUMNS = (
    "zoom_body_magnification",
    "image_orientation",
    "left_lightsheet_used",
    "right_lightsheet_used",
    "tiling_scheme",
    "tiling_overlap",
    "z_step",
)
PURPOSES = ("registration", "injection_detection", "probe_detection", "cell_detection", "generic_imaging")
#: units shown next to each channel-row field (column name -> unit words)
UNITS = {
    "zoom_body_magnification": "×",
    "tiling_scheme": "columns × rows",
    "tiling_overlap": "fraction of a tile, 0–0.99",
    "z_step": "µm",
    "number_of_z_planes": "planes",
}
SAMPLE_COLUMNS = (*BATCH_COLUMNS, "number_of_z_planes", "rawdata_subfolder", "numerical_aperture")
MAX_TILES = {"1.1x": 2, "1.3x": 2, "2x": 4, "4x": 4, "3.6x": 10, "15x": 10}
NOTES_MAX = 2048
SKIP_REASON_MAX = 500
SUBFOLDER_MAX = 512
MAX_CHANNEL_ROWS = 8
TILING_RE = re.compile(r"^(\d+)x(\d+)$")
SUBFOLDER_CHARS_RE = re.compile(r"^[A-Za-z0-9._/-]+$")


@dataclass
class Checked:
    values: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _number(raw, errors: list[str], message: str) -> float | None:
    try:
        return float(str(raw).strip())
    except (TypeError, ValueError):
        errors.append(message)
        return None


def _flag(raw) -> int:
    return int(str(raw).strip().lower() in ("1", "y", "on", "true", "yes"))


def check_row(raw: dict, resolution: str, *, ventral_up: bool, sample_row: bool, for_submit: bool = False) -> Checked:
    """Validate one channel row. `raw` maps column names to submitted strings (checkboxes: present or not).
    `sample_row` adds the per-sample columns; `for_submit` makes z planes and the subfolder required."""
    out = Checked()
    v, errors = out.values, out.errors
    if resolution == "2x":
        zoom_text = str(raw.get("zoom_body_magnification") or "1.0")
        zoom = _number(zoom_text, errors, "Zoom body magnification must be between 0.63 and 6.3.")
        if zoom is not None and not 0.63 <= zoom <= 6.3:
            errors.append("Zoom body magnification must be between 0.63 and 6.3.")
        v["zoom_body_magnification"] = zoom
    else:
        v["zoom_body_magnification"] = None
    orientation = "horizontal" if ventral_up else str(raw.get("image_orientation") or "horizontal")
    if orientation not in ORIENTATION:
        errors.append("Choose an image orientation.")
    v["image_orientation"] = orientation
    v["left_lightsheet_used"] = _flag(raw.get("left_lightsheet_used"))
    v["right_lightsheet_used"] = _flag(raw.get("right_lightsheet_used"))
    if not (v["left_lightsheet_used"] or v["right_lightsheet_used"]):
        errors.append("At least one light sheet is required.")
    tiling = str(raw.get("tiling_scheme") or "1x1").lower()
    match = TILING_RE.match(tiling)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        errors.append("Tiling scheme must look like 2x3 (columns x rows), with no spaces.")
    elif max(int(match.group(1)), int(match.group(2))) > MAX_TILES[resolution]:
        limit = MAX_TILES[resolution]
        errors.append(f"Tiling scheme must not exceed {limit}x{limit} at this resolution.")
    v["tiling_scheme"] = tiling
    overlap_message = "Tiling overlap must be a number from 0 up to, but not including, 1."
    overlap = _number(raw.get("tiling_overlap") or "0", errors, overlap_message)
    if overlap is not None and not 0 <= overlap < 1:
        errors.append(overlap_message)
    elif overlap is not None and overlap == 0 and tiling != "1x1" and match:
        errors.append("Tiled acquisitions need an overlap greater than 0.")
    v["tiling_overlap"] = overlap
    z_message = "z step must be a number from 2 to 1000 microns."
    z_step = _number(raw.get("z_step") or "", errors, z_message)
    if z_step is not None and not 2 <= z_step <= 1000:
        errors.append(z_message)
    v["z_step"] = z_step
    if sample_row:
        _check_sample_columns(raw, v, errors, for_submit)
    return out


def _check_sample_columns(raw: dict, v: dict, errors: list[str], for_submit: bool) -> None:
    planes_text = str(raw.get("number_of_z_planes") or "").strip()
    if planes_text:
        if not planes_text.isdigit() or not 1 <= int(planes_text) <= 5500:
            errors.append("Number of z planes must be from 1 to 5500.")
            v["number_of_z_planes"] = None
        else:
            v["number_of_z_planes"] = int(planes_text)
    else:
        v["number_of_z_planes"] = None
        if for_submit:
            errors.append("Number of z planes must be from 1 to 5500.")
    subfolder = str(raw.get("rawdata_subfolder") or "").strip().rstrip("/")
    v["rawdata_subfolder"] = subfolder or None
    if not subfolder:
        if for_submit:
            errors.append("Enter the raw data subfolder.")
    elif len(subfolder) > SUBFOLDER_MAX:
        errors.append(f"Raw data subfolder must be at most {SUBFOLDER_MAX} characters.")
    elif " " in subfolder:
        errors.append("Raw data subfolder must not contain spaces.")
    elif subfolder.startswith("/") or "\\" in subfolder or ".." in subfolder.split("/"):
        errors.append("Raw data subfolder must be relative, without '..', '\\' or a leading '/'.")
    elif not SUBFOLDER_CHARS_RE.match(subfolder):
        errors.append("Raw data subfolder may contain only letters, digits, '.', '_', '-' and '/'.")
    na_text = str(raw.get("numerical_aperture") or "").strip()
    v["numerical_aperture"] = None
    if na_text:
        na = _number(na_text, errors, "Numerical aperture must be greater than 0 and at most 1.5.")
        if na is not None and not 0 < na <= 1.5:
            errors.append("Numerical aperture must be greater than 0 and at most 1.5.")
        v["numerical_aperture"] = na


def purposes_text(row: dict) -> str:
    """What the researcher wants a channel for, in words: "registration, cell detection"."""
    return ", ".join(p.replace("_", " ") for p in PURPOSES if row.get(p)) or "no purpose given"


def show_requested_orientations(channels: list[dict], requested: dict[tuple[str, str], str], entered: set[str]) -> None:
    """Each row gets the researcher's output orientation (`requested_orientation`, None without processing).
    Until imaging staff store a sample's parameters, its dorsal rows show it (sagittal when asked) in place
    of the stored default; ventral-up rows stay horizontal."""
    for c in channels:
        wish = requested.get((c["sample_name"], c["image_resolution"]))
        c["requested_orientation"] = wish
        if wish and not c["ventral_up"] and c["sample_name"] not in entered:
            c["image_orientation"] = wish
