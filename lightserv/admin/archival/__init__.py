"""Archival import: requests done before lightserv, entered by a facility admin
from a CSV. Every row is validated first; the import writes all of them in one DataJoint transaction (with
their event-log rows) or nothing.

The CSV has one row per sample and imaged resolution (a sample imaged at two resolutions has two rows;
a sample without an imaging record has one row with no resolution). Rows of the same owner and request
name form one request; the request columns may be left empty on its later rows (they repeat the first),
and so may the sample columns on a sample's later rows. Columns (header names; * = required):

| column | rule |
|---|---|
| owner* | an existing lightserv user (create it on Users & roles first) |
| request_name* | letters, digits, underscores, at most 64; new for that owner (case-insensitively) |
| submitted_date* | YYYY-MM-DD, not in the future: when the request was made |
| species* | mouse, rat, primate, marsupial |
| labname, description, correspondence_email | at most 100 / 250 / 100; the email defaults to the owner's |
| raw_data_retention_preference | important, kind of important, not important, not sure (default) |
| sample_name* | letters, digits, `_` and `-`, at most 64; unique in the request (case-insensitively) |
| clearing_protocol* | a protocol of the catalogue (value or label; retired ones too) |
| antibody1, antibody2 | at most 100 |
| clearing_spreadsheet_link | an http(s) address, at most 512 |
| clearing_completed_date | YYYY-MM-DD, not in the future (default: the submitted date) |
| image_resolution | one of the resolutions; empty = no imaging record for this sample |
| channels | with a resolution: wavelengths of its microscope, separated by `;` |
| imaging_date | YYYY-MM-DD, not in the future |
| imaging_path | where the raw data is: an absolute path, at most 512, no `..` |
| imaging_notes | at most 1000 |

What is written: the request (`is_archival` = 1, `requested_by` = the owner), its samples, one complete
clearing batch per protocol, antibodies, spreadsheet link and completion date, and for imaged samples one
complete imaging request with its resolutions and channels (the imaging paths and notes go to the imaging
notes, which the imaging log shows). No folders, processing requests or emails. Each request gets a
`request.archival_imported` event and the import one `admin.archival_imported` event.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas
from schemas.enums import MICROSCOPE_OF_RESOLUTION

from .checks import plan_from_bytes, plan_from_text
from .plan import (
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    REQUIRED,
    ImportFailed,
    Plan,
    PlannedRequest,
    PlannedSample,
    RowError,
    template_rows,
)

__all__ = [
    "COLUMNS", "MAX_BYTES", "MAX_ROWS", "REQUIRED", "ImportFailed", "Plan", "RowError", "import_plan",
    "plan_from_bytes", "plan_from_text", "template_rows",
]


def _noon_utc(day: dt.date, tz: str) -> dt.datetime:
    """A facility-local date as a stored UTC time (noon, so the date reads the same everywhere)."""
    local = dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(tz))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def import_plan(plan: Plan, actor: str, source: str) -> list[tuple[str, str]]:
    """Write every planned request in one transaction (with its events); returns the (owner, name) keys."""
    if not plan.ok:
        raise ImportFailed("The file has problems; nothing was imported.")
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    tz = current_app.config["SETTINGS"].display_timezone
    now = utcnow()
    keys = []
    with conn.transaction:
        for req in plan.requests:
            key = {"username": req.owner, "request_name": req.request_name}
            submitted_at = _noon_utc(req.submitted_on, tz)
            ls.Request.insert1(dict(
                **key, requested_by=req.owner, submitted_at=submitted_at, labname=req.labname,
                correspondence_email=req.correspondence_email, description=req.description, species=req.species,
                number_of_samples=len(req.samples), raw_data_retention_preference=req.preference, testing=0,
                is_archival=1, self_clearing=0, self_imaging=0, form_version="archival",
            ))  # fmt: skip
            ls.Request.Sample.insert([dict(**key, sample_name=s.sample_name, subject_fullname=None, perfusion_date=None,
                                           expected_handoff_date=None, notes_for_clearer="")
                                      for s in req.samples])  # fmt: skip
            batches: dict[int, list[PlannedSample]] = {}
            for s in req.samples:
                batches.setdefault(s.clearing_batch, []).append(s)
            ls.Request.ClearingBatch.insert([
                dict(**key, clearing_batch_number=number, protocol=members[0].protocol, antibody1=members[0].antibody1,
                     antibody2=members[0].antibody2, antibody1_lot=None, antibody2_lot=None,
                     clearing_progress="complete", number_in_batch=len(members), clearer=None, claimed_at=None,
                     started_at=None, completed_at=_noon_utc(members[0].cleared_on or req.submitted_on, tz),
                     exp_notes="", clearing_notes="", link_to_clearing_spreadsheet=members[0].spreadsheet_link)
                for number, members in batches.items()
            ])  # fmt: skip
            ls.Request.ClearingBatchSample.insert(
                [dict(**key, sample_name=s.sample_name, clearing_batch_number=s.clearing_batch) for s in req.samples]
            )
            for s in req.samples:
                if s.imaging:
                    _insert_imaging(ls, key, req, s, submitted_at, tz)
            record_event(
                "request.archival_imported",
                "request",
                key,
                f"Archival request {req.owner}/{req.request_name} imported ({len(req.samples)} samples)",
                request_key=(req.owner, req.request_name),
                after={
                    "is_archival": True,
                    "source": source,
                    "csv_lines": req.lines,
                    "samples": [_sample_document(s) for s in req.samples],
                },  # fmt: skip
                actor=actor,
                dj_conn=conn,
            )
            keys.append((req.owner, req.request_name))
        record_event(
            "admin.archival_imported",
            "archival_import",
            {"source": source, "at": now.isoformat()},
            f"Archival import of {source}: {len(keys)} requests, {plan.samples} samples",
            after={"requests": [f"{o}/{n}" for o, n in keys], "rows": plan.rows},
            actor=actor,
            dj_conn=conn,
        )
    return keys


def _insert_imaging(ls, key: dict, req: PlannedRequest, s: PlannedSample, submitted_at: dt.datetime, tz: str) -> None:
    ikey = {**key, "sample_name": s.sample_name, "imaging_request_number": 1}
    dates = [i.imaging_date for i in s.imaging if i.imaging_date]
    notes = [f"{i.image_resolution} raw data (archival): {i.imaging_path}" for i in s.imaging if i.imaging_path]
    notes += [f"{i.image_resolution}: {i.notes}" for i in s.imaging if i.notes]
    ls.Request.ImagingRequest.insert1(dict(
        **ikey, requested_by=req.owner, submitted_at=submitted_at, imager=None, self_imaging=0,
        imaging_progress="complete", imaging_performed_date=max(dates) if dates else None, skip_reason="",
        notes_from_imaging="\n".join(notes)[:2048], validation_status="none", validation_messages=None,
    ))  # fmt: skip
    ls.Request.ImagingResolutionRequest.insert([
        dict(**ikey, image_resolution=i.image_resolution, microscope=MICROSCOPE_OF_RESOLUTION[i.image_resolution],
             notes_for_imager="")
        for i in s.imaging
    ])  # fmt: skip
    ls.Request.ImagingChannel.insert([
        dict(**ikey, image_resolution=i.image_resolution, channel_name=c, ventral_up=0, registration=0,
             injection_detection=0, probe_detection=0, cell_detection=0, generic_imaging=1, added_during_imaging=0,
             imaging_date=i.imaging_date, zoom_body_magnification=1.0 if i.image_resolution == "2x" else None,
             image_orientation="horizontal", left_lightsheet_used=1, right_lightsheet_used=1, tiling_scheme="1x1",
             tiling_overlap=0, z_step=10, number_of_z_planes=None, rawdata_subfolder=None,
             imspector_channel_index=None, numerical_aperture=None, pixel_type=None)
        for i in s.imaging
        for c in i.channels
    ])  # fmt: skip


def _sample_document(s: PlannedSample) -> dict:
    return {
        "sample_name": s.sample_name,
        "clearing_batch": s.clearing_batch,
        "protocol": s.protocol,
        "spreadsheet_link": s.spreadsheet_link,
        "imaging": [
            {"resolution": i.image_resolution, "channels": i.channels, "path": i.imaging_path} for i in s.imaging
        ],  # fmt: skip
    }
