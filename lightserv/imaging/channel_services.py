"""Add and delete channel rows of the imaging entry form, for one sample or every
pending sample of a batch, each in one transaction with its event."""

from __future__ import annotations

from lightserv.db import get_schemas

from .batch_services import ImagingError, _locked_batch, event
from .fields import BATCH_COLUMNS, PURPOSES
from .queries import list_member_keys
from .sample_rows import channel_rows, imaging_progress, member_row, require_editor, require_in_progress, row_label

# --- 8.2 add a channel, 8.3 delete a channel ------------------------------------------------------------


def add_channel(
    key: dict,
    sample_name: str | None,
    resolution: str,
    wavelength: str,
    purpose: str,
    actor: str,
    roles: frozenset[str],
) -> list[str]:
    """Add a dorsal channel row copying the batch-level values of the first dorsal row at that
    resolution, for one sample or every pending one (samples that have it are skipped with a warning)."""
    from lightserv.requests.services import load_catalogue
    from schemas.enums import CHANNELS_OF_MICROSCOPE, MICROSCOPE_OF_RESOLUTION

    microscope = MICROSCOPE_OF_RESOLUTION.get(resolution, "")
    if wavelength not in CHANNELS_OF_MICROSCOPE.get(microscope, ()):
        raise ImagingError(f"Channel {wavelength} is not available at {resolution}.", 400)
    if purpose not in PURPOSES:
        raise ImagingError("Choose a purpose for the channel.", 400)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    species = (ls.Request & {"username": key["username"], "request_name": key["request_name"]}).fetch1("species")
    if purpose != "generic_imaging" and (resolution == "2x" or species != "mouse"):
        raise ImagingError("Only generic imaging is available at 2x or for species other than mouse.", 400)
    if purpose == "registration":
        allowed = load_catalogue(key["username"]).registration_channels.get(microscope, ())
        if wavelength not in allowed:
            raise ImagingError(f"Channel {wavelength} cannot be used for registration at {resolution}.", 400)
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
            at_res = [r for k, r in sorted(rows.items()) if k[0] == resolution]
            dorsal = [r for r in at_res if not r["ventral_up"]]
            if not dorsal:
                raise ImagingError(f"Sample {member['sample_name']} has no resolution {resolution}.")
            if (resolution, wavelength, False) in rows:
                message = f"Sample {member['sample_name']} already has channel {wavelength} at {resolution}."
                if sample_name:
                    raise ImagingError(message)
                warnings.append(message)
                continue
            if len(at_res) >= 8:
                raise ImagingError("A resolution can have at most 8 channel rows.")
            if purpose == "registration" and any(r["registration"] for r in at_res):
                raise ImagingError(
                    f"Sample {member['sample_name']} already has a registration channel at {resolution}."
                )
            first = dorsal[0]
            row = {
                **member,
                "image_resolution": resolution,
                "channel_name": wavelength,
                "ventral_up": 0,
                **{p: int(p == purpose) for p in PURPOSES},
                "added_during_imaging": 1,
                **{c: first[c] for c in BATCH_COLUMNS},
            }
            ls.Request.ImagingChannel.insert1(row)
            event(
                conn,
                "imaging.channel_added",
                key,
                f"{actor} added channel {wavelength} ({purpose}) at {resolution} for {member['sample_name']}",
                actor=actor,
                entity=("imaging_request", member),
                after={"channel": wavelength, "resolution": resolution, "purpose": purpose},
            )
    return warnings


def delete_channel(
    key: dict,
    sample_name: str | None,
    resolution: str,
    wavelength: str,
    ventral_up: bool,
    actor: str,
    roles: frozenset[str],
) -> list[str]:
    """Delete a channel row (a dorsal row takes its ventral-up copy with it), for one sample or every
    pending one. The last dorsal channel of a resolution stays; when the last ventral-up row goes, the
    pending ventral-up processing resolution request goes too."""
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
                continue
            rows = channel_rows(ls, member)
            if (resolution, wavelength, ventral_up) not in rows:
                side = "ventral-up channel" if ventral_up else "channel"
                warnings.append(f"Sample {member['sample_name']} has no {side} {wavelength} at {resolution}.")
                continue
            if not ventral_up and [k for k in rows if k[0] == resolution and not k[2]] == [
                (resolution, wavelength, False)
            ]:
                raise ImagingError("A resolution needs at least one channel.")
            doomed = [(resolution, wavelength, True)] if ventral_up else [(resolution, wavelength, False)]
            if not ventral_up and (resolution, wavelength, True) in rows:
                doomed.insert(0, (resolution, wavelength, True))
            for res, wl, vu in doomed:
                (ls.Request.ImagingChannel & {**member, "image_resolution": res, "channel_name": wl,
                                              "ventral_up": int(vu)}).delete_quick()  # fmt: skip
            remaining_ventral = [k for k in rows if k[0] == resolution and k[2] and k not in doomed]
            if not remaining_ventral and any(k[2] for k in doomed):
                pending = ls.Request.ProcessingRequest & member & {"processing_progress": "pending"}
                ventral_proc = {"image_resolution": resolution, "ventral_up": 1}
                (ls.Request.ProcessingChannel & pending.proj() & ventral_proc).delete_quick()
                (ls.Request.ProcessingResolutionRequest & pending.proj() & ventral_proc).delete_quick()
            event(
                conn,
                "imaging.channel_deleted",
                key,
                f"{actor} deleted channel {wavelength}{' (ventral up)' if ventral_up else ''} at {resolution} "
                f"for {member['sample_name']}",
                actor=actor,
                entity=("imaging_request", member),
                before={"channels": [row_label(k) for k in doomed]},
            )
    return warnings
