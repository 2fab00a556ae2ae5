"""Antibody trials and the curated antibody combinations."""

from __future__ import annotations

import datajoint as dj

from .base import schema

# --- antibodies ---------------------------------------------------------------------------------------


@schema
class AntibodyHistory(dj.Manual):
    """Antibody trials: one row per antibody-bearing clearing batch, plus free-standing trials."""

    definition = """
    # antibody history
    antibody_history_id : int unsigned auto_increment     # surrogate key
    ---
    entry_date : date                                     # facility-local date of the trial
    brief_descriptor : varchar(128)                       # brief description
    animal_model : varchar(128)                           # e.g. mouse line
    primary_antibody : varchar(128)                       # primary antibody
    primary_concentration = '' : varchar(128)             # e.g. 1:1000
    secondary_antibody = '' : varchar(128)                # secondary antibody
    secondary_concentration = '' : varchar(128)           # e.g. 1:500
    primary_order_info = '' : varchar(256)                # vendor and catalogue number
    secondary_order_info = '' : varchar(256)              # vendor and catalogue number
    primary_lot = '' : varchar(64)                        # lot code, copied from the batch on completion
    secondary_lot = '' : varchar(64)                      # lot code, copied from the batch on completion
    notes = '' : varchar(512)                             # free text
    username = null : varchar(32)                         # request owner when tied to a batch
    request_name = null : varchar(64)                     # request when tied to a batch
    clearing_batch_number = null : int8                   # clearing batch when tied to a batch
    created_by : varchar(32)                              # username
    created_at : datetime                                 # UTC
    updated_by = null : varchar(32)                       # username of the last edit
    updated_at = null : datetime                          # UTC, last edit
    unique index (username, request_name, clearing_batch_number)  # one row per batch
    """


@schema
class AntibodyOverview(dj.Manual):
    """The antibody "cheat sheet": recommended antibody combinations curated by clearing staff."""

    definition = """
    # antibody overview
    antibody_overview_id : int unsigned auto_increment    # surrogate key
    ---
    brief_descriptor : varchar(128)                       # brief description
    animal_model : varchar(128)                           # e.g. mouse line
    primary_antibody : varchar(128)                       # primary antibody
    secondary_antibody : varchar(128)                     # secondary antibody
    primary_concentration : varchar(128)                  # e.g. 1:1000
    secondary_concentration : varchar(128)                # e.g. 1:500
    primary_order_info = '' : varchar(256)                # vendor and catalogue number
    secondary_order_info = '' : varchar(256)              # vendor and catalogue number
    notes = '' : varchar(512)                             # free text
    updated_by : varchar(32)                              # username of the last edit
    updated_at : datetime                                 # UTC, last edit
    """
