"""Additional imaging requests."""

from __future__ import annotations

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import commit_and_send
from lightserv.db import get_schemas

from .emails import queue_additional_imaging
from .folders import enqueue_folder_task
from .inserts import insert_imaging_batches, insert_imaging_request, insert_processing_requests
from .services import RequestError, load_catalogue
from .submission import (
    ClearingBatchPlan,
    Errors,
    NewRequest,
    SampleWish,
    plan_imaging_batches,
    validate_resolution,
)

ARCHIVAL_MESSAGE = "Additional imaging is not available for archival requests."


def validate_additional_imaging(req: dict, samples: list[SampleWish], ticked: list[bool]) -> Errors:
    """Errors keyed by form field: at least one sample ticked, a table per ticked sample, the resolution rules
    of a new request."""
    errors = Errors()
    catalogue = load_catalogue(req["username"])
    draft = NewRequest(
        owner=req["username"],
        request_name=req["request_name"],
        description="",
        labname="",
        correspondence_email="",
        species=req["species"],
        number_of_samples=len(samples),
        raw_data_retention_preference="not_sure",
        samples=samples,
    )
    if not any(ticked):
        errors.add("samples", "Select at least one sample to re-image.")
    for si, (sample, chosen) in enumerate(zip(samples, ticked, strict=True)):
        if not chosen:
            continue
        if not sample.resolutions:
            errors.add(
                f"samples-{si}-resolutions", f"Sample {sample.sample_name}: set up imaging for at least one resolution."
            )
        seen: set[str] = set()
        for ri, res in enumerate(sample.resolutions):
            if res.image_resolution in seen:
                errors.add(
                    f"samples-{si}-resolutions",
                    f"Resolution {res.image_resolution} is already set up for sample {sample.sample_name}.",
                )
                continue
            seen.add(res.image_resolution)
            validate_resolution(draft, si, ri, errors, catalogue)
    return errors


def request_additional_imaging(
    req: dict, samples: list[SampleWish], ticked: list[bool], *, self_imaging: bool, submitter: str
) -> int:
    """Create imaging request N for every ticked sample in one transaction; returns N."""
    if req["is_archival"]:
        raise RequestError({"samples": [ARCHIVAL_MESSAGE]})
    errors = validate_additional_imaging(req, samples, ticked)
    if errors:
        raise RequestError(errors)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    key = {"username": req["username"], "request_name": req["request_name"]}
    chosen = [s for s, t in zip(samples, ticked, strict=True) if t]
    now = utcnow()
    with conn.transaction:
        numbers = (ls.Request.ImagingRequest & key).to_arrays("imaging_request_number")
        number = int(max(numbers, default=0)) + 1
        batch_of = {
            r["sample_name"]: r["clearing_batch_number"] for r in (ls.Request.ClearingBatchSample & key).to_dicts()
        }
        missing = [s.sample_name for s in chosen if s.sample_name not in batch_of]
        if missing:
            raise RequestError({"samples": [f"Unknown sample(s): {', '.join(missing)}."]})
        clearing: dict[int, ClearingBatchPlan] = {}
        for i, s in enumerate(chosen):
            cb = batch_of[s.sample_name]
            clearing.setdefault(cb, ClearingBatchPlan(cb, "", "", "")).sample_indexes.append(i)
        plans = plan_imaging_batches(chosen, sorted(clearing.values(), key=lambda p: p.number))
        insert_imaging_request(
            ls, key, number, chosen, owner=req["username"], self_imaging=self_imaging, submitter=submitter, now=now
        )
        insert_imaging_batches(
            ls, key, number, plans, chosen, imager=req["username"] if self_imaging else None, now=now
        )
        insert_processing_requests(ls, key, number, chosen, submitter=submitter, now=now)
        record_event(
            "imaging.requested",
            "imaging_request",
            {**key, "imaging_request_number": number},
            f"Additional imaging request {number} for {len(chosen)} sample(s)",
            request_key=tuple(key.values()),
            after={
                "samples": [s.sample_name for s in chosen],
                "self_imaging": self_imaging,
                "resolutions": {s.sample_name: [r.image_resolution for r in s.resolutions] for s in chosen},
            },
            actor=submitter,
            dj_conn=conn,
        )
    _after(req, chosen, number, self_imaging, batch_of)
    return number


def _after(req: dict, chosen: list[SampleWish], number: int, self_imaging: bool, batch_of: dict) -> None:
    """After the commit: the emails and the imaging folders' task."""
    ids = queue_additional_imaging(req, chosen, number, self_imaging, batch_of)
    jobs = [
        (
            req["username"],
            req["request_name"],
            s.sample_name,
            number,
            [(r.image_resolution, False) for r in s.resolutions],
        )
        for s in chosen
    ]
    enqueue_folder_task(
        req,
        "lightserv.requests.create_imaging_folders",
        jobs,
        kind="imaging-folders",
        dedupe=str(number),
        what="Creating the imaging folders",
    )
    commit_and_send(ids)
    current_app.logger.info("additional imaging request %s for %s/%s", number, req["username"], req["request_name"])
