"""Change resolution, for one sample or every pending sample of a batch, in one
transaction: channel rows move to the new resolution (translated across microscopes), processing rows
follow (dorsal and ventral together), and the new raw-data folder is created after commit."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from lib.naming import rawdata_resolution_dir
from lightserv.common.audit import utcnow
from lightserv.db import get_schemas
from schemas.enums import MICROSCOPE_OF_RESOLUTION, PROCESSABLE_RESOLUTIONS

from .batch_services import ImagingError, _locked_batch, describe_batch, event
from .fields import MAX_TILES, PURPOSES
from .queries import list_member_keys
from .sample_rows import imaging_progress, member_row, require_editor, require_in_progress

TRANSLATE = {
    ("lavision", "smartspim"): {"488": "488", "555": "561", "647": "642", "790": "785"},
    ("smartspim", "lavision"): {"488": "488", "561": "555", "642": "647", "785": "790"},
}
PROC_FIELDS = ("atlas_name", "final_orientation", "notes_for_processor")
PROC_DEFAULTS = {"atlas_name": "allen_2017", "final_orientation": "sagittal", "notes_for_processor": ""}


def _translate_row(row: dict, old: str, new: str, species: str, allowed_reg: tuple[str, ...], who: str) -> tuple:
    warnings = []
    old_m, new_m = MICROSCOPE_OF_RESOLUTION[old], MICROSCOPE_OF_RESOLUTION[new]
    wavelength = TRANSLATE.get((old_m, new_m), {}).get(row["channel_name"], row["channel_name"])
    out = {**row, "image_resolution": new, "channel_name": wavelength}
    out["zoom_body_magnification"] = 1.0 if new == "2x" else None
    columns, rows = (int(v) for v in row["tiling_scheme"].split("x"))
    if max(columns, rows) > MAX_TILES[new]:
        out["tiling_scheme"], out["tiling_overlap"] = "1x1", 0
        warnings.append(f"{who}: tiling of channel {wavelength} reset to 1x1 (the maximum at {new} is smaller).")
    if out["registration"] and wavelength not in allowed_reg:
        out["registration"] = 0
        warnings.append(f"{who}: channel {wavelength} cannot be used for registration at {new}; flag dropped.")
    if new == "2x" or species != "mouse":
        specific = [p for p in PURPOSES if p != "generic_imaging" and out[p]]
        if specific:
            for p in specific:
                out[p] = 0
            warnings.append(f"{who}: channel {wavelength} becomes generic imaging at {new}.")
    if not any(out[p] for p in PURPOSES):
        out["generic_imaging"] = 1
    out["imspector_channel_index"] = None
    return out, warnings


def change_resolution(
    key: dict, sample_name: str | None, old: str, new: str, actor: str, roles: frozenset[str]
) -> list[str]:
    """Returns warnings. All-or-nothing: any refused sample refuses the whole change."""
    from lightserv.requests.services import load_catalogue

    if new not in MICROSCOPE_OF_RESOLUTION or old not in MICROSCOPE_OF_RESOLUTION or old == new:
        raise ImagingError("Choose another resolution.", 400)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    req = (ls.Request & {"username": key["username"], "request_name": key["request_name"]}).fetch1()
    allowed_reg = load_catalogue(key["username"]).registration_channels.get(MICROSCOPE_OF_RESOLUTION[new], ())
    warnings: list[str] = []
    moved: list[dict] = []
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        require_editor(batch, actor, roles)
        require_in_progress(batch)
        members = [member_row(key, sample_name)] if sample_name else list_member_keys(key)
        for member in members:
            who = f"Sample {member['sample_name']}"
            if imaging_progress(ls, member) != "pending":
                if sample_name:
                    raise ImagingError(f"{who} is already done.")
                continue
            resolutions = ls.Request.ImagingResolutionRequest & member
            if not (resolutions & {"image_resolution": old}):
                if sample_name:
                    raise ImagingError(f"{who} has no resolution {old}.")
                continue
            if resolutions & {"image_resolution": new}:
                raise ImagingError(f"{who} already has resolution {new}.")
            procs = ls.Request.ProcessingRequest & member
            if procs & "processing_progress != 'pending'":
                raise ImagingError(f"Processing of {who.lower()} has started; its resolution cannot change.")
            old_key = {**member, "image_resolution": old}
            res_row = (ls.Request.ImagingResolutionRequest & old_key).fetch1()
            channels = (ls.Request.ImagingChannel & old_key).to_dicts()
            proc_rows = (ls.Request.ProcessingResolutionRequest & old_key).to_dicts()
            (ls.Request.ProcessingChannel & old_key).delete_quick()
            (ls.Request.ProcessingResolutionRequest & old_key).delete_quick()
            (ls.Request.ImagingChannel & old_key).delete_quick()
            (ls.Request.ImagingResolutionRequest & old_key).delete_quick()
            ls.Request.ImagingResolutionRequest.insert1(
                {**res_row, "image_resolution": new, "microscope": MICROSCOPE_OF_RESOLUTION[new]}
            )
            for row in channels:
                translated, notes = _translate_row(row, old, new, req["species"], allowed_reg, who)
                ls.Request.ImagingChannel.insert1(translated)
                warnings += notes
            _update_processing(ls, member, old, new, channels, proc_rows)
            moved.append(member)
            event(
                conn, "imaging.resolution_changed", key, f"{actor} changed {old} to {new} for {member['sample_name']} "
                f"of {describe_batch(key)}", actor=actor, entity=("imaging_request", member),
                before={"image_resolution": old}, after={"image_resolution": new},
            )  # fmt: skip
        if not moved:
            raise ImagingError(f"No pending sample has resolution {old}.")
    root = Path(current_app.config["SETTINGS"].data_root)
    for member in moved:
        ids = (member["username"], member["request_name"], member["sample_name"], member["imaging_request_number"])
        ventral = any(
            r["ventral_up"] for r in (ls.Request.ImagingChannel & member & {"image_resolution": new}).to_dicts()
        )
        for vu in {False, ventral}:
            (root / rawdata_resolution_dir(*ids, new, vu)).mkdir(parents=True, exist_ok=True)
    return warnings


def _update_processing(ls, member: dict, old: str, new: str, channels: list[dict], proc_rows: list[dict]) -> None:
    sides = sorted({bool(c["ventral_up"]) for c in channels})
    pending = (ls.Request.ProcessingRequest & member & {"processing_progress": "pending"}).to_dicts()
    processable = [
        r["image_resolution"]
        for r in (ls.Request.ImagingResolutionRequest & member).to_dicts()
        if r["image_resolution"] in PROCESSABLE_RESOLUTIONS
    ]
    if not processable:
        for proc in pending:
            pkey = {**member, "processing_request_number": proc["processing_request_number"]}
            (ls.Request.ProcessingChannel & pkey).delete_quick()
            (ls.Request.ProcessingResolutionRequest & pkey).delete_quick()
            (ls.Request.ProcessingRequest & pkey).delete_quick()
        return
    if not pending and not (ls.Request.ProcessingRequest & member):
        imaging = (ls.Request.ImagingRequest & member).fetch1()
        ls.Request.ProcessingRequest.insert1(
            {**member, "processing_request_number": 1, "requested_by": imaging["requested_by"],
             "submitted_at": utcnow().replace(microsecond=0), "processing_progress": "pending"}
        )  # fmt: skip
        pending = (ls.Request.ProcessingRequest & member & {"processing_progress": "pending"}).to_dicts()
    if new not in PROCESSABLE_RESOLUTIONS:
        return
    carried = {(r["processing_request_number"], bool(r["ventral_up"])): r for r in proc_rows}
    for proc in pending:
        number = proc["processing_request_number"]
        for vu in sides:
            source = carried.get((number, vu)) or carried.get((number, False)) or PROC_DEFAULTS
            ls.Request.ProcessingResolutionRequest.insert1(
                {**member, "processing_request_number": number, "image_resolution": new, "ventral_up": int(vu),
                 **{f: source[f] for f in PROC_FIELDS}}
            )  # fmt: skip
