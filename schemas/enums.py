"""Shared enumerations of the data model, defined once.

Every enumeration of the data model is a tuple of its stored values (in their canonical order); labels
are dicts ``value -> label`` where the spec gives them. DataJoint table definitions build their enum
attributes with :func:`sql_enum`, so a stored value can only change here. The enumerations of the
SQLAlchemy application tables and the column-local enums of DataJoint tables are
also here, so no module spells an enum literal of its own.

Pure data: no DataJoint import, no database access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "sql_enum",
    "label_of",
]


def sql_enum(values: Iterable[str]) -> str:
    """Return the DataJoint/SQL type ``enum('a','b')`` for ``values``.

    Values are single-quoted (double quotes break DataJoint 2's generated SQL). A value containing a
    quote or backslash is refused rather than escaped: stored values are plain snake_case or tokens
    such as ``1.3x``.
    """
    values = tuple(values)
    if not values:
        raise ValueError("An enum needs at least one value.")
    for value in values:
        if not isinstance(value, str) or not value or any(c in value for c in "'\"\\#"):
            raise ValueError(f"Unsupported enum value: {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"Duplicate enum values in {values!r}")
    return "enum(" + ",".join(f"'{v}'" for v in values) + ")"


def label_of(labels: Mapping[str, str], value: str | None, default: str | None = None) -> str:
    """Label of a stored value; falls back to ``default`` or the value itself."""
    if value is None:
        return default if default is not None else ""
    return labels.get(value, default if default is not None else value)


def _labels(mapping: dict[str, str], values: tuple[str, ...]) -> Mapping[str, str]:
    """Freeze a label dict after checking it labels exactly the enum's values."""
    if tuple(mapping) != values:
        raise AssertionError(f"labels {tuple(mapping)} do not match values {values}")
    return MappingProxyType(mapping)


# --- Data model ------------------------------------------------------------------------------------

SPECIES = ("mouse", "rat", "primate", "marsupial")

RETENTION_PREFERENCE = ("important", "kind_of_important", "not_important", "not_sure")
RETENTION_PREFERENCE_LABELS = _labels(
    {
        "important": "Important",
        "kind_of_important": "Kind of important",
        "not_important": "Not important",
        "not_sure": "Not sure",
    },
    RETENTION_PREFERENCE,
)

CLEARING_PROGRESS = ("pending", "in_progress", "complete")
CLEARING_PROGRESS_LABELS = _labels(
    {"pending": "Ready to clear", "in_progress": "Being cleared", "complete": "Cleared"},
    CLEARING_PROGRESS,
)

IMAGING_BATCH_PROGRESS = ("pending", "in_progress", "complete")

IMAGING_REQUEST_PROGRESS = ("pending", "complete", "skipped")
#: imaging-request states that count as done ("skipped counts as done")
IMAGING_REQUEST_DONE = frozenset({"complete", "skipped"})

PROCESSING_PROGRESS = ("pending", "running", "complete", "failed")

#: per processing resolution request (cache of the latest run)
PIPELINE_STATUS = ("not_started", "running", "complete", "failed")

IMAGE_RESOLUTION = ("1.1x", "1.3x", "2x", "4x", "3.6x", "15x")
#: resolutions the pipelines process; 2x is never processed
PROCESSABLE_RESOLUTIONS = ("1.1x", "1.3x", "4x", "3.6x", "15x")

MICROSCOPE = ("lavision", "smartspim")
MICROSCOPE_LABELS = _labels({"lavision": "LaVision", "smartspim": "SmartSPIM"}, MICROSCOPE)
#: the microscope is derived from the resolution on every insert
MICROSCOPE_OF_RESOLUTION = MappingProxyType(
    {
        "1.1x": "lavision",
        "1.3x": "lavision",
        "2x": "lavision",
        "4x": "lavision",
        "3.6x": "smartspim",
        "15x": "smartspim",
    }
)

CHANNEL_NAME = ("488", "555", "561", "642", "647", "785", "790")
#: wavelengths each microscope images
CHANNELS_OF_MICROSCOPE = MappingProxyType(
    {
        "lavision": ("488", "555", "647", "790"),
        "smartspim": ("488", "561", "642", "785"),
    }
)

ORIENTATION = ("sagittal", "coronal", "horizontal")

ATLAS_NAME = ("allen_2017", "allen_2011", "princeton_mouse_atlas", "paxinos")
ATLAS_LABELS = _labels(
    {
        "allen_2017": "Allen atlas (2017)",
        "allen_2011": "Allen atlas (pre-2017)",
        "princeton_mouse_atlas": "Princeton Mouse Brain Atlas",
        "paxinos": "Franklin–Paxinos mouse brain atlas",
    },
    ATLAS_NAME,
)

#: in priority order: a channel takes the first role that applies
CHANNEL_ROLE = ("regch", "injch", "cellch", "gench")

#: ``none`` for products not tied to one light sheet
LIGHTSHEET = ("left", "right", "none")

#: upper case as Slurm prints them
SLURM_STATE = (
    "NOT_SUBMITTED",
    "SUBMITTED",
    "PENDING",
    "REQUEUED",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "RESIZING",
    "SUSPENDED",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
    "REVOKED",
    "UNKNOWN",
)
#: class of each Slurm state: waiting, queued, running, succeeded, failed, cancelled
SLURM_STATE_CLASS = MappingProxyType(
    {
        "NOT_SUBMITTED": "waiting",
        "SUBMITTED": "queued",
        "PENDING": "queued",
        "REQUEUED": "queued",
        "CONFIGURING": "running",
        "RUNNING": "running",
        "COMPLETING": "running",
        "RESIZING": "running",
        "SUSPENDED": "running",
        "COMPLETED": "succeeded",
        "FAILED": "failed",
        "CANCELLED": "cancelled",
        "TIMEOUT": "failed",
        "OUT_OF_MEMORY": "failed",
        "NODE_FAIL": "failed",
        "BOOT_FAIL": "failed",
        "DEADLINE": "failed",
        "PREEMPTED": "failed",
        "REVOKED": "failed",
        "UNKNOWN": "failed",
    }
)
#: label shown for each Slurm state; FAILED's label is a format string taking ``exit_code``
SLURM_STATE_LABELS = _labels(
    {
        "NOT_SUBMITTED": "Not submitted",
        "SUBMITTED": "Queued",
        "PENDING": "Queued",
        "REQUEUED": "Queued",
        "CONFIGURING": "Running",
        "RUNNING": "Running",
        "COMPLETING": "Running",
        "RESIZING": "Running",
        "SUSPENDED": "Paused",
        "COMPLETED": "Done",
        "FAILED": "Failed (exit code {exit_code})",
        "CANCELLED": "Cancelled",
        "TIMEOUT": "Ran out of time",
        "OUT_OF_MEMORY": "Ran out of memory",
        "NODE_FAIL": "Compute node failure",
        "BOOT_FAIL": "Compute node failure",
        "DEADLINE": "Stopped by the scheduler",
        "PREEMPTED": "Stopped by the scheduler",
        "REVOKED": "Stopped by the scheduler",
        "UNKNOWN": "Lost (not found in Slurm)",
    },
    SLURM_STATE,
)
#: a job in one of these states never changes state again
SLURM_TERMINAL_STATES = frozenset(s for s, c in SLURM_STATE_CLASS.items() if c not in {"waiting", "queued", "running"})

RUN_KIND = (
    "lavision_pipeline",
    "smartspim_stitch",
    "smartspim_destripe",
    "precomputed_raw",
    "precomputed_stitched",
    "precomputed_blended",
    "precomputed_downsized",
    "precomputed_registered",
    "precomputed_corrected",
    "precomputed_cells",
)

RUN_STATUS = ("queued", "running", "succeeded", "failed", "cancelled")

LAYER_PRODUCT = ("raw", "stitched", "blended", "downsized", "registered", "corrected", "cells", "cells_registered")

LAYER_TYPE = ("image", "segmentation", "annotation")

LAYER_STATUS = ("pending", "converting", "ready", "failed")

ACCESS_LEVEL = ("auditor", "collaborator")

ROLE = ("clearing_staff", "imaging_staff", "processing_staff", "facility_admin")

VIEWER_SESSION_STATUS = ("starting", "ready", "stopping", "stopped", "expired", "failed")

VIEWER_VARIANT = ("general", "registration")

# --- column-local enums of DataJoint tables -------------------------------------

#: ImagingRequest.validation_status: raw-data validation of the last submit
VALIDATION_STATUS = ("none", "running", "passed", "failed")

#: ClearingProtocol.species_scope
SPECIES_SCOPE = ("non_rat", "rat", "any")

#: ClearingSection.lot_field: which batch antibody lot the section records
LOT_FIELD = ("none", "antibody1", "antibody2")

#: StorageSnapshot.status
STORAGE_STATUS = ("ok", "warning", "error")

# --- column-local enums of the SQLAlchemy application tables -----------------------

EMAIL_STATUS = ("queued", "sending", "sent", "failed", "suppressed")

VIEWER_SESSION_END_REASON = ("user", "admin", "idle", "max_lifetime", "launch_failed", "orphan", "access_removed")

VIEWER_CONTAINER_ROLE = ("neuroglancer", "cloudvolume", "annotation")

#: notification_preference.category: which kind of email a preference is about
NOTIFICATION_CATEGORY = ("status", "data_ready", "failures", "reminders")

#: notification_preference.mode: send each email at once, or collect them into one email a day
NOTIFICATION_MODE = ("immediate", "digest")
