"""The request page's sample cards: where each sample is (clearing → imaging → processing → data), what
happens next in words, the links to its data, and what was ordered for it, request by request.

A sample's step is that of its furthest-along imaging request (with its processing requests); every imaging
and processing request also gets a line with its own state, so further requests are never hidden. Colours
follow lightserv.common.status: waiting is "pending", under way is "in progress", a failure "needs
attention", done is "complete".

Two queries whatever the number of samples (channels with their purposes, processing orientations), on top of
the rows lightserv.requests.queries.get_overview already read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, url_for

from lightserv.common.status import ATTENTION, COMPLETE, PENDING, PROGRESS, Status
from lightserv.db import get_schemas
from lightserv.requests.submission import ATLAS_RESOLUTIONS, PURPOSES
from schemas.enums import ATLAS_LABELS

STEPS = ("clearing", "imaging", "processing", "data")
STEP_LABELS = {"clearing": "Clearing", "imaging": "Imaging", "processing": "Processing", "data": "Data"}
PURPOSE_WORDS = {p: p.replace("_", " ") for p in PURPOSES}
#: among phases of the same step, the further along wins (running beats failed beats waiting)
_ALONG = {PENDING.key: 0, ATTENTION.key: 1, PROGRESS.key: 2, COMPLETE.key: 3}


@dataclass(frozen=True)
class Phase:
    """Where a sample (or one of its requests) is: the step, its colour, a short label, what happens next."""

    step: str
    status: Status
    label: str
    sentence: str
    not_needed: tuple[str, ...] = ()  # later steps nobody asked for, or that a skipped imaging made moot

    def along(self) -> tuple[int, int]:
        return STEPS.index(self.step), _ALONG[self.status.key]


@dataclass(frozen=True)
class StepMark:
    label: str
    state: str  # done / current / todo / not_needed
    status: Status | None  # colour: the phase's for the current step, "complete" for done ones
    current: bool


@dataclass
class RequestLine:
    """One imaging or processing request of a sample, as a compact line."""

    kind: str  # imaging / processing
    number: int
    phase: Phase
    what: list[str]  # "1.3x: 488 nm: registration; 647 nm: cell detection", ...
    log_url: str | None = None
    view_url: str | None = None
    view_label: str = ""
    detail: str = ""  # stage of a running pipeline, reason of a failure
    processing: list[RequestLine] = field(default_factory=list)
    atlas_links: list[tuple[str, str]] = field(default_factory=list)  # (label, url) of the registration atlases


@dataclass
class SampleCard:
    sample: dict
    phase: Phase
    steps: list[StepMark]
    data_links: list[tuple[str, str]]  # (label, url), the first is the main "View data"
    requests: list[RequestLine]


# --------------------------------------------------------------------------------------------------
# States in words
# --------------------------------------------------------------------------------------------------


CLEARING_WAITING = Phase(
    "clearing", PENDING, "Waiting for the clearing team", "Clearing starts once they have the sample."
)
CLEARING_YOURSELF = Phase("clearing", PENDING, "Waiting for you to clear it", "You clear this sample yourself.")
CLEARING = Phase("clearing", PROGRESS, "Clearing in progress", "Imaging comes after clearing.")
IMAGING_WAITING = Phase("imaging", PENDING, "Waiting for the imaging team", "Processing comes after imaging.")
IMAGING = Phase("imaging", PROGRESS, "Imaging in progress", "Processing comes after imaging.")
IMAGED = Phase("imaging", COMPLETE, "Imaged", "Imaging is complete.")
IMAGING_SKIPPED = Phase("imaging", COMPLETE, "Imaging skipped", "The imaging team skipped this imaging.",
                        ("processing", "data"))  # fmt: skip
NO_IMAGING = Phase("imaging", PENDING, "No imaging requested", "Nothing was ordered for this sample yet.")
PROCESSING_WAITING = Phase("processing", PENDING, "Waiting for the processing team",
                           "The data can be viewed after processing.")  # fmt: skip
PROCESSING = Phase("processing", PROGRESS, "Processing in progress", "The data can be viewed when processing is done.")
PROCESSING_FAILED = Phase("processing", ATTENTION, "Processing needs attention",
                          "Processing did not finish; the facility is looking into it.")  # fmt: skip
PREPARING = Phase("data", PROGRESS, "Preparing the data for viewing", "Processing is done; the views are being made.")
DATA_READY = Phase("data", COMPLETE, "Data ready", "The processed data is ready to view.")
RAW_READY = Phase("data", COMPLETE, "Raw data ready", "No processing was requested; the raw images are ready to view.",
                  ("processing",))  # fmt: skip
RAW_KEPT = Phase("imaging", COMPLETE, "Imaged", "No processing was requested; the raw images are kept at the facility.",
                 ("processing", "data"))  # fmt: skip
NOT_STARTED = Phase("imaging", PENDING, "Not started yet", "It starts after the steps before it.")
#: colour of a clearing batch's progress
CLEARING_COLOURS = {"pending": PENDING, "in_progress": PROGRESS, "complete": COMPLETE}
_IMAGING = {"complete": IMAGED, "skipped": IMAGING_SKIPPED}
_PROCESSING = {"running": PROCESSING, "failed": PROCESSING_FAILED, "pending": PROCESSING_WAITING}


def _clearing_phase(sample: dict, req: dict) -> Phase | None:
    """None once the sample is cleared (or is archival without a batch)."""
    progress = sample.get("clearing_progress")
    if progress == "complete" or (progress is None and req["is_archival"]):
        return None
    if progress == "in_progress":
        return CLEARING
    return CLEARING_YOURSELF if req["self_clearing"] else CLEARING_WAITING


def _imaging_phase(i: dict) -> Phase:
    return _IMAGING.get(i["imaging_progress"]) or (IMAGING if i["imager"] else IMAGING_WAITING)


def _processing_phase(p: dict) -> Phase:
    if p["processing_progress"] == "complete":
        return DATA_READY if p["ready"] else PREPARING
    return _PROCESSING[p["processing_progress"]]


def _chain_phase(i: dict) -> Phase:
    """How far one imaging request and its processing requests got."""
    if i["imaging_progress"] != "complete":
        return _imaging_phase(i)
    if i["processing"]:
        return max((_processing_phase(p) for p in i["processing"]), key=Phase.along)
    return RAW_READY if i["raw_ready"] else RAW_KEPT


def sample_phase(sample: dict) -> Phase:
    """The step of a cleared sample: that of its furthest-along imaging request."""
    if not sample["imaging"]:
        return NO_IMAGING
    return max((_chain_phase(i) for i in sample["imaging"]), key=Phase.along)


def step_marks(phase: Phase) -> list[StepMark]:
    current = STEPS.index(phase.step)
    marks = []
    for index, step in enumerate(STEPS):
        if step in phase.not_needed:
            state = "not_needed"
        elif index < current or (index == current and phase.status is COMPLETE):
            state = "done"
        else:
            state = "current" if index == current else "todo"
        colour = phase.status if index == current else (COMPLETE if state == "done" else None)
        marks.append(StepMark(STEP_LABELS[step], state, colour, index == current))
    return marks


# --------------------------------------------------------------------------------------------------
# What was ordered
# --------------------------------------------------------------------------------------------------


def _ordered(key: dict) -> tuple[dict[tuple, list[dict]], dict[tuple, str]]:
    """Channels (with purposes) per (sample, imaging request, resolution) and the output orientation per
    (sample, imaging request, processing request, resolution, ventral_up) of one request: two queries."""
    part = get_schemas().lightsheet.Request
    channels: dict[tuple, list[dict]] = {}
    rows = (part.ImagingChannel & key).proj(*PURPOSES).to_dicts(order_by=["channel_name", "ventral_up"])
    for c in rows:
        channels.setdefault((c["sample_name"], c["imaging_request_number"], c["image_resolution"]), []).append(c)
    orientation = {
        (
            r["sample_name"],
            r["imaging_request_number"],
            r["processing_request_number"],
            r["image_resolution"],
            bool(r["ventral_up"]),
        ): r["final_orientation"]
        for r in (part.ProcessingResolutionRequest & key).proj("final_orientation").to_dicts()
    }
    return channels, orientation


def channel_text(c: dict) -> str:
    """ "488 nm: registration, cell detection" (with "(ventral side up)" for a ventral acquisition)."""
    side = " (ventral side up)" if c["ventral_up"] else ""
    purposes = ", ".join(PURPOSE_WORDS[p] for p in PURPOSES if c[p]) or "no purpose given"
    return f"{c['channel_name']} nm{side}: {purposes}"


def _imaging_what(sample: str, i: dict, channels: dict) -> list[str]:
    return [
        f"{res}: " + "; ".join(channel_text(c) for c in channels.get((sample, i["imaging_request_number"], res), []))
        for res in i["resolutions"]
    ]


def _registers(sample: str, i: dict, res: str, channels: dict) -> bool:
    """Registration was ordered at this resolution: an atlas resolution with a registration channel."""
    ordered = channels.get((sample, i["imaging_request_number"], res), [])
    return res in ATLAS_RESOLUTIONS and any(c["registration"] for c in ordered)


def _processing_what(sample: str, i: dict, p: dict, orientation: dict, channels: dict) -> list[str]:
    """ "1.3x: Allen atlas (2017), sagittal output"; the atlas only where registration was ordered."""
    lines = []
    for prr in p["resolutions"]:
        res, ventral = prr["image_resolution"], bool(prr["ventral_up"])
        text = res + (" ventral side up" if ventral else "")
        if res in ATLAS_RESOLUTIONS:
            key = (sample, i["imaging_request_number"], p["processing_request_number"], res, ventral)
            atlas = ATLAS_LABELS.get(prr["atlas_name"], prr["atlas_name"])
            output = f"{orientation.get(key, 'sagittal')} output"
            text += f": {atlas}, {output}" if _registers(sample, i, res, channels) else f": {output}"
        lines.append(text)
    return lines


def _atlas_links(sample: str, i: dict, p: dict, channels: dict) -> list[tuple[str, str]]:
    """The atlas viewer of each atlas a processing request registers to: only where registration was ordered
    (a registration channel at an atlas resolution)."""
    if "viewer.atlas" not in current_app.view_functions:
        return []
    names = []
    for prr in p["resolutions"]:
        if _registers(sample, i, prr["image_resolution"], channels) and prr["atlas_name"] not in names:
            names.append(prr["atlas_name"])
    return [(f"Open the {ATLAS_LABELS.get(name, name)}", url_for("viewer.atlas", atlas_name=name)) for name in names]


def _processing_detail(p: dict) -> str:
    if p["processing_progress"] == "failed":
        return p.get("failure_summary") or ""
    if p["processing_progress"] in ("pending", "running"):
        return "; ".join(prr["stage"] for prr in p["resolutions"] if prr.get("stage"))
    return ""


def _request_lines(sample: dict, cleared: bool, channels: dict, orientation: dict) -> list[RequestLine]:
    """A line per imaging request, each with a line per processing request; a request whose turn has not
    come (imaging before clearing, processing before imaging) is "not started yet"."""
    name = sample["sample_name"]
    lines = []
    for i in sample["imaging"]:
        n = i["imaging_request_number"]
        imaged = i["imaging_progress"] == "complete"
        phase = _imaging_phase(i) if cleared else NOT_STARTED
        line = RequestLine("imaging", n, phase, _imaging_what(name, i, channels), log_url=i.get("log_url"))
        if i.get("raw_view_url"):
            line.view_url, line.view_label = i["raw_view_url"], "View raw data"
        for p in i["processing"]:
            line.processing.append(
                RequestLine(
                    "processing",
                    p["processing_request_number"],
                    _processing_phase(p) if imaged else NOT_STARTED,
                    _processing_what(name, i, p, orientation, channels),
                    log_url=p.get("log_url"),
                    view_url=p.get("view_url"),
                    view_label="View data",
                    detail=_processing_detail(p),
                    atlas_links=_atlas_links(name, i, p, channels),
                )
            )
        lines.append(line)
    return lines


def _data_links(sample: dict) -> list[tuple[str, str]]:
    """Every ready product of the sample, newest processing first; then raw data."""
    processed, raw = [], []
    several = len(sample["imaging"]) > 1
    for i in reversed(sample["imaging"]):
        of_imaging = f"imaging request {i['imaging_request_number']}, " if several else ""
        for p in reversed(i["processing"]):
            if p.get("view_url"):
                label = f"Data of {of_imaging}processing request {p['processing_request_number']}"
                processed.append((label, p["view_url"]))
        if i.get("raw_view_url"):
            raw.append(
                (
                    f"Raw data{' of imaging request ' + str(i['imaging_request_number']) if several else ''}",
                    i["raw_view_url"],
                )
            )
    links = processed + raw
    if links:  # the newest product is the main button
        links[0] = ("View data" if processed else "View raw data", links[0][1])
    return links


def build_cards(req: dict, samples: list[dict]) -> list[SampleCard]:
    """One card per sample of the request (samples as returned by get_overview, with their links)."""
    channels, orientation = _ordered({"username": req["username"], "request_name": req["request_name"]})
    cards = []
    for s in samples:
        clearing = _clearing_phase(s, req)
        phase = clearing or sample_phase(s)
        lines = _request_lines(s, clearing is None, channels, orientation)
        cards.append(SampleCard(s, phase, step_marks(phase), _data_links(s), lines))
    return cards
