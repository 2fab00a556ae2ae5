"""Schema ``<prefix>facility``: facility-wide measurements.

Declared on an unactivated schema; :func:`schemas.activate_all` activates it.
"""

from __future__ import annotations

import datajoint as dj

from .enums import STORAGE_STATUS, sql_enum

schema = dj.Schema()  # activated by schemas.activate_all(prefix)

__all__ = ["schema", "StorageSnapshot"]


@schema
class StorageSnapshot(dj.Manual):
    """Daily storage check of a file system, measured with the file system's statistics call."""

    definition = f"""
    # storage check
    taken_at : datetime                                   # UTC
    filesystem : varchar(64)                              # a label, e.g. data
    ---
    size_tb : float32                                     # TB, total size
    used_tb : float32                                     # TB, used
    avail_tb : float32                                    # TB, available
    status : {sql_enum(STORAGE_STATUS)}                   # ok / warning / error
    message = '' : varchar(512)                           # explanation when not ok
    """
