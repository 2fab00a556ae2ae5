"""Writes of the imaging entry form: apply batch parameters, save, add a ventral-up
channel, skip, reopen, submit (validation in the background), complete the batch.

Each service locks the imaging batch row inside one DataJoint transaction, checks its guard against the
stored state, writes, and appends its event in the same transaction (as batch_services does).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import current_app

from lib.naming import rawdata_dir
from lib.rawdata import ChannelSpec, validate_resolution
from lightserv.common.audit import utcnow
from lightserv.common.dispatch import commit_and_send, enqueue
from lightserv.common.permissions import ADMIN
from lightserv.db import get_schemas
from lightserv.workflow.stage import SaveRefused
from schemas.enums import PROCESSABLE_RESOLUTIONS

from . import emails
from .batch_services import ImagingError, _locked_batch, describe_batch, event
from .fields import BATCH_COLUMNS, NOTES_MAX, SAMPLE_COLUMNS, SKIP_REASON_MAX, check_row
from .queries import list_member_keys
from .sample_rows import (
    RowKey,
    channel_rows,
    imaging_progress,
    local_today,
    member_row,
    require_editor,
    require_in_progress,
    row_label,
)

DONE = ("complete", "skipped")


def _check_rows(rows: Mapping[RowKey, dict], *, sample_row: bool, for_submit: bool) -> dict[RowKey, dict]:
    errors: dict[str, list[str]] = {}
    cleaned = {}
    for row_key, raw in rows.items():
        checked = check_row(raw, row_key[0], ventral_up=row_key[2], sample_row=sample_row, for_submit=for_submit)
        if checked.errors:
            errors[row_label(row_key)] = checked.errors
        cleaned[row_key] = checked.values
    if errors:
        raise SaveRefused(errors)
    return cleaned


# --- 8.1 apply batch parameters -----------------------------------------------------------------------


def apply_batch_parameters(
    key: dict, batch_rows: Mapping[RowKey, dict], actor: str, roles: frozenset[str]
) -> tuple[int, list[str]]:
    """Update zoom, orientation, sheets, tiling, overlap and z step of every pending sample's matching
    row (by resolution, wavelength and side). Returns (samples updated, warnings for missing rows)."""
    cleaned = _check_rows(batch_rows, sample_row=False, for_submit=False)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    warnings: list[str] = []
    applied = 0
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        require_editor(batch, actor, roles)
        require_in_progress(batch)
        for member in list_member_keys(key):
            if imaging_progress(ls, member) != "pending":
                continue
            existing = channel_rows(ls, member)
            touched = False
            for row_key, values in cleaned.items():
                if row_key not in existing:
                    res, wavelength, ventral = row_key
                    side = "ventral-up channel" if ventral else "channel"
                    warnings.append(f"Not applied to sample {member['sample_name']}: no {side} {wavelength} at {res}.")
                    continue
                update = {c: values[c] for c in BATCH_COLUMNS}
                ls.Request.ImagingChannel.update1(
                    {**member, "image_resolution": row_key[0], "channel_name": row_key[1],
                     "ventral_up": int(row_key[2]), **update}
                )  # fmt: skip
                touched = True
            applied += int(touched)
        event(
            conn, "imaging.parameters_applied", key, f"{actor} applied batch parameters to {applied} samples of "
            f"{describe_batch(key)}", actor=actor, after={row_label(k): v for k, v in cleaned.items()},
        )  # fmt: skip
    return applied, warnings


# --- 8.6 save / 8.7 submit ----------------------------------------------------------------------------


def _store_sample(conn, ls, key, sample_name, rows, notes, actor, roles, *, for_submit: bool) -> dict:
    cleaned = _check_rows(rows, sample_row=True, for_submit=for_submit)
    if len(notes) > NOTES_MAX:
        raise SaveRefused({"notes": [f"Notes about the imaging must be at most {NOTES_MAX} characters."]})
    batch = _locked_batch(conn, ls, key)
    require_editor(batch, actor, roles)
    require_in_progress(batch)
    member = member_row(key, sample_name)
    if imaging_progress(ls, member) != "pending":
        raise ImagingError(f"Sample {sample_name} is already done; an admin can reopen it.")
    if (ls.Request.ImagingRequest & member).fetch1("validation_status") == "running":
        raise ImagingError(f"The raw data of sample {sample_name} are being validated; wait for the result.")
    existing = channel_rows(ls, member)
    unknown = [row_label(k) for k in cleaned if k not in existing]
    if unknown:
        raise ImagingError(f"These channels no longer exist: {', '.join(unknown)}. Reload the page.")
    for row_key, values in cleaned.items():
        ls.Request.ImagingChannel.update1(
            {**member, "image_resolution": row_key[0], "channel_name": row_key[1], "ventral_up": int(row_key[2]),
             **{c: values[c] for c in SAMPLE_COLUMNS}}
        )  # fmt: skip
    ls.Request.ImagingRequest.update1({**member, "notes_from_imaging": notes})
    return member


def save_sample(
    key: dict, sample_name: str, rows: Mapping[RowKey, dict], notes: str, actor: str, roles: frozenset[str]
) -> None:
    """Store a sample's rows (z planes and subfolders may still be empty). No file-system access."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        member = _store_sample(conn, ls, key, sample_name, rows, notes, actor, roles, for_submit=False)
        event(conn, "imaging.sample_saved", key, f"{actor} saved sample {sample_name} of {describe_batch(key)}",
              actor=actor, entity=("imaging_request", member))  # fmt: skip


def submit_sample(
    key: dict, sample_name: str, rows: Mapping[RowKey, dict], notes: str, actor: str, roles: frozenset[str]
) -> dict:
    """Store the values with z planes and subfolders required, mark the validation `running` and record its
    task, in one transaction; the caller hands it to the broker (`tasks.queue_validation`) after this returns."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        member = _store_sample(conn, ls, key, sample_name, rows, notes, actor, roles, for_submit=True)
        ls.Request.ImagingRequest.update1({**member, "validation_status": "running", "validation_messages": None})
        event(conn, "imaging.sample_submitted", key, f"{actor} submitted sample {sample_name} of {describe_batch(key)}",
              actor=actor, entity=("imaging_request", member))  # fmt: skip
        enqueue("lightserv.imaging.validate_sample", member, actor, what="Validating the raw data",
                request_key=(member["username"], member["request_name"]))  # fmt: skip
    return member


def channel_specs(rows: list[dict]) -> list[ChannelSpec]:
    return [
        ChannelSpec(
            wavelength=r["channel_name"],
            subfolder=r["rawdata_subfolder"] or "",
            n_planes=int(r["number_of_z_planes"] or 0),
            tiling=r["tiling_scheme"],
            overlap=float(r["tiling_overlap"]),
            left_sheet=bool(r["left_lightsheet_used"]),
            right_sheet=bool(r["right_lightsheet_used"]),
            ventral_up=bool(r["ventral_up"]),
            orientation=r["image_orientation"],
            z_step_um=round(float(r["z_step"]), 3),
        )
        for r in rows
    ]


#: when the follow-ups' guard (the start_conversions task recorded with a passed validation) runs
FOLLOWUP_GUARD_SECONDS = 60


def validate_sample(member: dict, actor: str, progress=None) -> list[str]:
    """The background half of a submit: validate every resolution on disk (read-only), then
    either complete the imaging request or store the messages. Returns the messages (empty = passed)."""
    settings = current_app.config["SETTINGS"]
    ls = get_schemas().lightsheet
    rows = (ls.Request.ImagingChannel & member).to_dicts(order_by=["image_resolution", "channel_name", "ventral_up"])
    root = Path(settings.data_root) / rawdata_dir(
        member["username"], member["request_name"], member["sample_name"], member["imaging_request_number"]
    )
    display = (
        (settings.data_root_display or str(settings.data_root)).rstrip("/")
        + "/"
        + str(
            rawdata_dir(
                member["username"], member["request_name"], member["sample_name"], member["imaging_request_number"]
            )
        )
    )
    messages: list[str] = []
    indexes: dict[tuple[str, str, bool], int] = {}
    for res in sorted({r["image_resolution"] for r in rows}):
        specs = channel_specs([r for r in rows if r["image_resolution"] == res])
        result = validate_resolution(root, res, specs, progress=progress, display_root=display)
        messages += [f"Sample {member['sample_name']}, resolution {res}: {m}" for m in result.messages]
        indexes.update({(res, w, vu): i for (w, vu), i in result.channel_indexes.items()})
    schemas = get_schemas()
    conn = schemas.connection
    with conn.transaction:
        if messages:
            ls.Request.ImagingRequest.update1(
                {**member, "validation_status": "failed", "validation_messages": messages}
            )
            event(conn, "imaging.validation_failed", member, f"raw-data validation of {member['sample_name']} failed",
                  actor=actor, entity=("imaging_request", member))  # fmt: skip
            return messages
        today = local_today()
        for row in rows:
            row_key = (row["image_resolution"], row["channel_name"], bool(row["ventral_up"]))
            update = {"imaging_date": row["imaging_date"] or today}
            if row_key in indexes:
                update["imspector_channel_index"] = indexes[row_key]
            ls.Request.ImagingChannel.update1(
                {**member, "image_resolution": row_key[0], "channel_name": row_key[1], "ventral_up": row["ventral_up"],
                 **update}
            )  # fmt: skip
        ls.Request.ImagingRequest.update1(
            {**member, "imaging_progress": "complete", "imaging_performed_date": today,
             "validation_status": "passed", "validation_messages": None}
        )  # fmt: skip
        event(conn, "imaging.sample_completed", member, f"{actor} completed imaging of {member['sample_name']}",
              actor=actor, entity=("imaging_request", member))  # fmt: skip
        # with the result: the follow-ups' guard. The worker starts them at once; should it die first, or DATA_ROOT
        # refuse them, this task starts them a minute later (it skips what was started since `since`)
        since = utcnow().replace(microsecond=0).isoformat()
        owner, name, sample, number = (member[k] for k in ("username", "request_name", "sample_name",
                                                           "imaging_request_number"))  # fmt: skip
        enqueue("lightserv.imaging.start_conversions", member, actor, since, countdown=FOLLOWUP_GUARD_SECONDS,
                key=f"start-conversions:{owner}/{name}/{sample}/{number}:{since}",
                what="Starting the raw-data conversions", request_key=(owner, name))  # fmt: skip
    return []


# --- 8.4 ventral-up, 8.8 skip, 8.9 reopen, 8.10 complete -------------------------------------------------


def add_ventral_up(
    key: dict, sample_name: str | None, resolution: str, wavelength: str, actor: str, roles: frozenset[str]
) -> list[str]:
    """Copy the dorsal row as a ventral-up row (horizontal only), for one sample or every pending one;
    creates the ventral-up processing resolution request while processing is pending. Returns warnings."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    warnings: list[str] = []
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        require_editor(batch, actor, roles)
        require_in_progress(batch)
        members = [member_row(key, sample_name)] if sample_name else list_member_keys(key)
        for member in members:
            if imaging_progress(ls, member) != "pending":
                if sample_name:
                    raise ImagingError(f"Sample {member['sample_name']} is already done.")
                continue
            rows = channel_rows(ls, member)
            dorsal = rows.get((resolution, wavelength, False))
            if dorsal is None:
                if sample_name:
                    raise ImagingError(f"Sample {member['sample_name']} has no channel {wavelength} at {resolution}.")
                warnings.append(
                    f"Not added to sample {member['sample_name']}: no channel {wavelength} at {resolution}."
                )
                continue
            if dorsal["image_orientation"] != "horizontal":
                raise ImagingError("A ventral-up channel can only be added for horizontal imaging.")
            if (resolution, wavelength, True) in rows:
                if sample_name:
                    raise ImagingError("This channel already has a ventral-up copy.")
                continue
            if sum(1 for k in rows if k[0] == resolution) >= 8:
                raise ImagingError("A resolution can have at most 8 channel rows.")
            copy = {**dorsal, "ventral_up": 1, "number_of_z_planes": None, "rawdata_subfolder": None,
                    "imspector_channel_index": None, "imaging_date": None}  # fmt: skip
            ls.Request.ImagingChannel.insert1(copy)
            _add_ventral_processing(ls, member, resolution)
            event(
                conn,
                "imaging.ventral_up_added",
                key,
                f"{actor} added ventral-up channel {wavelength} at {resolution} for {member['sample_name']}",
                actor=actor,
                entity=("imaging_request", member),
                after={"channel": wavelength, "resolution": resolution},
            )
    return warnings


def _add_ventral_processing(ls, member: dict, resolution: str) -> None:
    if resolution not in PROCESSABLE_RESOLUTIONS:
        return
    for proc in (ls.Request.ProcessingRequest & member & {"processing_progress": "pending"}).to_dicts():
        pkey = {
            **member,
            "processing_request_number": proc["processing_request_number"],
            "image_resolution": resolution,
        }
        if ls.Request.ProcessingResolutionRequest & pkey & {"ventral_up": 1}:
            continue
        dorsal = (ls.Request.ProcessingResolutionRequest & pkey & {"ventral_up": 0}).to_dicts()
        base = dorsal[0] if dorsal else {**pkey, "atlas_name": "allen_2017", "final_orientation": "sagittal",
                                         "notes_for_processor": ""}  # fmt: skip
        ls.Request.ProcessingResolutionRequest.insert1(
            {k: base[k] for k in ("atlas_name", "final_orientation", "notes_for_processor")} | pkey | {"ventral_up": 1}
        )


def skip_sample(key: dict, sample_name: str, reason: str, actor: str, roles: frozenset[str]) -> None:
    reason = reason.strip()
    if len(reason) > SKIP_REASON_MAX:
        raise SaveRefused({"skip_reason": [f"The reason must be at most {SKIP_REASON_MAX} characters."]})
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        require_editor(batch, actor, roles)
        require_in_progress(batch)
        member = member_row(key, sample_name)
        if imaging_progress(ls, member) != "pending":
            raise ImagingError(f"Sample {sample_name} is already done.")
        ls.Request.ImagingRequest.update1({**member, "imaging_progress": "skipped", "skip_reason": reason})
        event(conn, "imaging.sample_skipped", key, f"{actor} skipped sample {sample_name} of {describe_batch(key)}",
              actor=actor, entity=("imaging_request", member), after={"skip_reason": reason})  # fmt: skip


def reopen_sample(key: dict, sample_name: str, actor: str, roles: frozenset[str]) -> None:
    """Admins: back to `pending` while the batch is not complete and processing has not started."""
    if ADMIN not in roles:
        raise ImagingError("Only admins can reopen a sample.", 403)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["imaging_progress"] == "complete":
            raise ImagingError("This batch is complete. The form is read-only.")
        member = member_row(key, sample_name)
        before = imaging_progress(ls, member)
        stuck = (ls.Request.ImagingRequest & member).fetch1("validation_status") == "running"
        if before not in DONE and not stuck:  # a validation whose worker died can be released here too
            raise ImagingError(f"Sample {sample_name} is not done; there is nothing to reopen.")
        if ls.Request.ProcessingRequest & member & "processing_progress != 'pending'":
            raise ImagingError(f"Processing of sample {sample_name} has started; it cannot be reopened.")
        ls.Request.ImagingRequest.update1(
            {**member, "imaging_progress": "pending", "validation_status": "none", "validation_messages": None}
        )
        event(conn, "imaging.sample_reopened", key, f"{actor} reopened sample {sample_name} of {describe_batch(key)}",
              actor=actor, entity=("imaging_request", member), before={"imaging_progress": before},
              after={"imaging_progress": "pending"})  # fmt: skip


def complete_batch(key: dict, actor: str, roles: frozenset[str]) -> None:
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        require_editor(batch, actor, roles)
        require_in_progress(batch)
        waiting = [m["sample_name"] for m in list_member_keys(key) if imaging_progress(ls, m) not in DONE]
        if waiting:
            raise ImagingError(f"These samples still need imaging or skipping: {', '.join(waiting)}.")
        now = utcnow().replace(microsecond=0)
        ls.Request.ImagingBatch.update1(
            {**key, "imaging_progress": "complete", "completed_at": now, "imaging_performed_date": local_today()}
        )
        event(conn, "imaging.batch_completed", key, f"{actor} completed {describe_batch(key)}", actor=actor,
              before={"imaging_progress": "in_progress"}, after={"imaging_progress": "complete"})  # fmt: skip
    ids = emails.queue_batch_completed(key)
    commit_and_send(ids)
