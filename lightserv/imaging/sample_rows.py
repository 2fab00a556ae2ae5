"""Reading and checking one sample of an imaging batch: its key, its member row, its channel rows and
progress, and who may change it when."""

from __future__ import annotations

import datetime as dt

from flask import current_app

from lightserv.common.audit import utcnow
from lightserv.common.permissions import ADMIN
from lightserv.common.timefmt import to_local

from .batch_services import ImagingError
from .queries import list_member_keys

RowKey = tuple[str, str, bool]  # image_resolution, channel_name, ventral_up


def row_label(key: RowKey) -> str:
    res, wavelength, ventral = key
    return f"{res} channel {wavelength}" + (" (ventral up)" if ventral else "")


def local_today() -> dt.date:
    return to_local(utcnow(), current_app.config["SETTINGS"].display_timezone).date()


def member_row(key: dict, sample_name: str) -> dict:
    members = {m["sample_name"]: m for m in list_member_keys(key)}
    if sample_name not in members:
        raise ImagingError(f"Sample {sample_name} is not in this batch.", 404)
    return members[sample_name]


def require_editor(batch: dict, actor: str, roles: frozenset[str]) -> None:
    if batch["imager"] != actor and ADMIN not in roles:
        raise ImagingError("Only the imager or an admin can change this batch.", 403)


def require_in_progress(batch: dict) -> None:
    if batch["imaging_progress"] != "in_progress":
        raise ImagingError("Start imaging before entering data." if batch["imaging_progress"] == "pending"
                           else "This batch is complete. The form is read-only.")  # fmt: skip


def channel_rows(ls, sample_key: dict) -> dict[RowKey, dict]:
    rows = (ls.Request.ImagingChannel & sample_key).to_dicts()
    return {(r["image_resolution"], r["channel_name"], bool(r["ventral_up"])): r for r in rows}


def imaging_progress(ls, sample_key: dict) -> str:
    return (ls.Request.ImagingRequest & sample_key).fetch1("imaging_progress")
