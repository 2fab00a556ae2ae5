"""Additional processing requests.

For each ticked sample, processing request P = (highest processing request number of that sample's
imaging request N) + 1, with one processing resolution request per included resolution and a
`ventral_up = 1` sibling where the sample has ventral-up channels at that resolution. One transaction
with its `processing.requested` event; emails and output folders after the commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import commit_and_send
from lightserv.db import get_schemas
from schemas.enums import ORIENTATION, PROCESSABLE_RESOLUTIONS

from .emails import queue_additional_processing
from .folders import enqueue_folder_task
from .inserts import insert_processing_request, processing_resolution_row
from .queries.additional import lock_imaging_request
from .services import RequestError, load_catalogue
from .submission import ATLAS_RESOLUTIONS, PURPOSES, Errors

PURPOSE_LABELS = {
    "registration": "registration",
    "injection_detection": "injection detection",
    "probe_detection": "probe detection",
    "cell_detection": "cell detection",
    "generic_imaging": "generic imaging",
}
NOTES_LIMIT = 1024


@dataclass
class ImagedResolution:
    """A processable resolution imaged for one sample in imaging request N, with what it was imaged for."""

    image_resolution: str
    channels: list[dict] = field(default_factory=list)  # channel_name, ventral_up, purposes (labels)
    has_registration: bool = False
    has_ventral_up: bool = False
    atlas_default: str = "allen_2017"
    orientation_default: str = "sagittal"

    @property
    def shows_atlas(self) -> bool:
        return self.image_resolution in ATLAS_RESOLUTIONS and self.has_registration

    @property
    def shows_orientation(self) -> bool:
        return self.image_resolution in ATLAS_RESOLUTIONS


@dataclass
class SampleState:
    sample_name: str
    imaging_progress: str | None  # None: the sample has no imaging request N
    processing: list[tuple[int, str]] = field(default_factory=list)  # existing (P, progress)
    resolutions: list[ImagedResolution] = field(default_factory=list)

    @property
    def listed(self) -> bool:
        """Offered for processing: imaging request N is complete and has a processable resolution."""
        return self.imaging_progress == "complete" and bool(self.resolutions)

    def reason(self, number: int) -> str:
        if self.imaging_progress is None:
            return f"This sample has no imaging request {number}."
        if self.imaging_progress != "complete":
            return f"Imaging request {number} of this sample is {self.imaging_progress.replace('_', ' ')}."
        return f"Imaging request {number} of this sample has no processable resolution (2x is never processed)."


@dataclass
class ResolutionChoice:
    image_resolution: str
    include: bool
    atlas_name: str
    final_orientation: str
    notes_for_processor: str = ""


@dataclass
class SampleChoice:
    sample_name: str
    process: bool
    resolutions: list[ResolutionChoice] = field(default_factory=list)


def load_processing_context(owner: str, request_name: str, number: int) -> list[SampleState] | None:
    """Every sample of the request with its imaging request `number` state and imaged processable
    resolutions (a fixed number of queries, never one per sample). None when no sample has that imaging
    request."""
    ls = get_schemas().lightsheet
    key = {"username": owner, "request_name": request_name}
    n_key = {**key, "imaging_request_number": number}
    imaging = {r["sample_name"]: r["imaging_progress"] for r in (ls.Request.ImagingRequest & n_key).to_dicts()}
    if not imaging:
        return None
    names = sorted((ls.Request.Sample & key).to_arrays("sample_name").tolist())
    processing: dict[str, list[tuple[int, str]]] = {}
    for r in (ls.Request.ProcessingRequest & n_key).to_dicts(order_by=["sample_name", "processing_request_number"]):
        processing.setdefault(r["sample_name"], []).append(
            (int(r["processing_request_number"]), r["processing_progress"])
        )
    previous: dict[tuple[str, str], dict] = {}
    for r in (ls.Request.ProcessingResolutionRequest & n_key & "ventral_up = 0").to_dicts(
        order_by=["processing_request_number"]
    ):
        previous[(r["sample_name"], r["image_resolution"])] = r  # the latest processing request wins
    resolutions: dict[str, dict[str, ImagedResolution]] = {}
    for r in (ls.Request.ImagingResolutionRequest & n_key).to_dicts(order_by=["sample_name", "image_resolution"]):
        if r["image_resolution"] not in PROCESSABLE_RESOLUTIONS:
            continue
        last = previous.get((r["sample_name"], r["image_resolution"]), {})
        resolutions.setdefault(r["sample_name"], {})[r["image_resolution"]] = ImagedResolution(
            r["image_resolution"],
            atlas_default=last.get("atlas_name", "allen_2017"),
            orientation_default=last.get("final_orientation", "sagittal"),
        )
    for c in (ls.Request.ImagingChannel & n_key).to_dicts(order_by=["sample_name", "channel_name", "ventral_up"]):
        res = resolutions.get(c["sample_name"], {}).get(c["image_resolution"])
        if res is None:
            continue
        purposes = [PURPOSE_LABELS[p] for p in PURPOSES if c[p]]
        res.channels.append(
            {"channel_name": c["channel_name"], "ventral_up": bool(c["ventral_up"]), "purposes": purposes}
        )
        res.has_registration |= bool(c["registration"]) and not c["ventral_up"]
        res.has_ventral_up |= bool(c["ventral_up"])
    order = {r: i for i, r in enumerate(PROCESSABLE_RESOLUTIONS)}
    return [
        SampleState(
            sample_name=name,
            imaging_progress=imaging.get(name),
            processing=processing.get(name, []),
            resolutions=sorted(resolutions.get(name, {}).values(), key=lambda r: order[r.image_resolution]),
        )
        for name in names
    ]


def validate_additional_processing(
    number: int, states: list[SampleState], choices: list[SampleChoice], active_atlases: frozenset[str]
) -> Errors:
    """Errors keyed by form field (`samples-<i>-resolutions-<j>-<field>`, i = position in `choices`)."""
    errors = Errors()
    by_name = {s.sample_name: s for s in states}
    if not any(c.process for c in choices):
        errors.add("samples", "Select at least one sample to process again.")
    for si, choice in enumerate(choices):
        if not choice.process:
            continue
        state = by_name.get(choice.sample_name)
        if state is None or not state.listed:
            errors.add(
                "samples",
                f"Sample {choice.sample_name} cannot be processed again: its imaging request {number} is not complete.",
            )
            continue
        imaged = {r.image_resolution: r for r in state.resolutions}
        if not any(r.include for r in choice.resolutions):
            errors.add(f"samples-{si}-resolutions", f"Sample {choice.sample_name}: include at least one resolution.")
        for ri, r in enumerate(choice.resolutions):
            if not r.include:
                continue
            prefix = f"samples-{si}-resolutions-{ri}-"
            info = imaged.get(r.image_resolution)
            if info is None:
                errors.add(
                    f"samples-{si}-resolutions",
                    f"Resolution {r.image_resolution} was not imaged for sample {choice.sample_name}.",
                )
                continue
            if info.shows_atlas and r.atlas_name not in active_atlases:
                errors.add(prefix + "atlas_name", "Please choose an available atlas.")
            if info.shows_orientation:
                if r.final_orientation not in ORIENTATION:
                    errors.add(prefix + "final_orientation", "Please choose an output orientation.")
                elif info.has_registration and r.final_orientation != "sagittal":
                    errors.add(
                        prefix + "final_orientation",
                        "Output orientation must be sagittal when registration is selected.",
                    )
            if len(r.notes_for_processor) > NOTES_LIMIT:
                errors.add(
                    prefix + "notes_for_processor",
                    f"Notes for the processor must be at most {NOTES_LIMIT} characters.",
                )
    return errors


def request_additional_processing(
    req: dict, number: int, choices: list[SampleChoice], submitter: str
) -> list[tuple[str, int]]:
    """Create the next processing request of imaging request `number` for every ticked sample in one
    transaction. Returns [(sample_name, processing_request_number)]."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    owner, name = req["username"], req["request_name"]
    key = {"username": owner, "request_name": name}
    active_atlases = load_catalogue(owner).active_atlases
    now = utcnow()
    with conn.transaction:
        # serialise concurrent additional requests for this imaging request: P must stay unique
        lock_imaging_request(conn, ls.Request.ImagingRequest.full_table_name, owner, name, number)
        states = load_processing_context(owner, name, number)
        if states is None:
            raise RequestError({"samples": [f"This request has no imaging request {number}."]})
        errors = validate_additional_processing(number, states, choices, active_atlases)
        if errors:
            raise RequestError(errors)
        by_name = {s.sample_name: s for s in states}
        created = []
        for choice in choices:
            if not choice.process:
                continue
            state = by_name[choice.sample_name]
            p = max((n for n, _ in state.processing), default=0) + 1
            pkey = {
                **key,
                "sample_name": choice.sample_name,
                "imaging_request_number": number,
                "processing_request_number": p,
            }
            insert_processing_request(ls, pkey, submitter=submitter, now=now)
            imaged = {r.image_resolution: r for r in state.resolutions}
            rows, described = [], []
            for r in choice.resolutions:
                if not r.include:
                    continue
                info = imaged[r.image_resolution]
                atlas = r.atlas_name if info.shows_atlas else info.atlas_default
                orientation = r.final_orientation if info.shows_orientation else info.orientation_default
                for ventral_up in (0, 1) if info.has_ventral_up else (0,):
                    rows.append(
                        processing_resolution_row(
                            pkey,
                            r.image_resolution,
                            ventral_up=ventral_up,
                            atlas_name=atlas,
                            final_orientation=orientation,
                            notes=r.notes_for_processor,
                        )
                    )
                    described.append(
                        {
                            "image_resolution": r.image_resolution,
                            "ventral_up": bool(ventral_up),
                            "atlas_name": atlas,
                            "final_orientation": orientation,
                            "has_registration": info.has_registration,
                        }
                    )
            ls.Request.ProcessingResolutionRequest.insert(rows)
            created.append(
                {"sample_name": choice.sample_name, "processing_request_number": p, "resolutions": described}
            )
        record_event(
            "processing.requested",
            "processing_request",
            {**key, "imaging_request_number": number},
            f"Additional processing of imaging request {number} for "
            + ", ".join(f"{c['sample_name']} (processing request {c['processing_request_number']})" for c in created),
            request_key=(owner, name),
            after={"imaging_request_number": number, "samples": created},
            actor=submitter,
            dj_conn=conn,
        )
    _after(req, number, created)
    return [(c["sample_name"], c["processing_request_number"]) for c in created]


def _after(req: dict, number: int, created: list[dict]) -> None:
    """After the commit: the emails and the output folders' task, both through their outboxes."""
    signature = ",".join(f"{c['sample_name']}={c['processing_request_number']}" for c in created)
    dedupe = f"{number}:{hashlib.sha1(signature.encode(), usedforsecurity=False).hexdigest()[:16]}"
    ids = queue_additional_processing(req, number, created, dedupe)
    jobs = [
        (
            req["username"],
            req["request_name"],
            c["sample_name"],
            number,
            c["processing_request_number"],
            [(r["image_resolution"], r["ventral_up"]) for r in c["resolutions"]],
        )
        for c in created
    ]
    enqueue_folder_task(
        req,
        "lightserv.requests.create_processing_folders",
        jobs,
        kind="processing-folders",
        dedupe=dedupe,
        what="Creating the processing folders",
    )
    commit_and_send(ids)
