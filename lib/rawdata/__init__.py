"""Read-only validation of raw data on storage. No Flask, Celery or database.

    result = validate_resolution(rawdata_dir, "1.3x", channels, progress=print)
    result.ok, result.messages, result.channel_indexes

The validator only lists folders and reads names: it never renames, moves or writes a file.
"""

from .validate import (
    MICROSCOPE_OF_RESOLUTION,
    ChannelSpec,
    ValidationResult,
    check_consistency,
    validate_lavision_channel,
    validate_resolution,
    validate_smartspim_subfolder,
)

__all__ = [
    "MICROSCOPE_OF_RESOLUTION",
    "ChannelSpec",
    "ValidationResult",
    "check_consistency",
    "validate_lavision_channel",
    "validate_resolution",
    "validate_smartspim_subfolder",
]
