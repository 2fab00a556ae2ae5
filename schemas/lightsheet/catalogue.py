"""The clearing catalogue and the atlases (lookups seeded by :mod:`schemas.seed`)."""

from __future__ import annotations

import datajoint as dj

from ..enums import (
    ATLAS_NAME,
    LOT_FIELD,
    SPECIES_SCOPE,
    sql_enum,
)
from .base import schema

# --- clearing catalogue and atlases (lookup, seeded by schemas.seed) ----------------------------------


@schema
class ClearingProtocol(dj.Lookup):
    """A clearing protocol offered by the facility (seeded from :mod:`schemas.catalogue`).

    Retiring a protocol sets ``is_active = 0``: hidden from new requests, still rendered for old batches.
    """

    definition = f"""
    # clearing protocol of the catalogue
    protocol : varchar(32)                                # stored value, e.g. idisco_abbreviated
    ---
    label : varchar(128)                                  # label shown in forms, queues and e-mails
    species_scope : {sql_enum(SPECIES_SCOPE)}             # species the protocol is offered for
    requires_primary_antibody = 0 : bool                  # 1: the request form requires antibody1
    has_step_form = 1 : bool                              # 0 for the experimental protocol (spreadsheet link only)
    colour : char(7)                                      # queue row colour, hex RRGGBB with a leading hash
    is_active = 1 : bool                                  # 0: retired, hidden from new requests
    sort_order : int8                                     # order in selects and legends
    """


@schema
class ClearingSection(dj.Lookup):
    """A section of a protocol's clearing form; each section has one section date."""

    definition = f"""
    # section of a clearing protocol
    -> ClearingProtocol                                   # the protocol
    section_key : varchar(32)                             # stored key, unique within the protocol
    ---
    section_order : int8                                  # 1.. order of the section within the protocol
    label : varchar(64)                                   # section heading
    lot_field = 'none' : {sql_enum(LOT_FIELD)}            # batch antibody lot entered in this section
    """


@schema
class ClearingStep(dj.Lookup):
    """A timestamped step of a protocol's clearing form."""

    definition = """
    # step of a clearing protocol
    -> ClearingProtocol                                   # the protocol
    step_key : varchar(64)                                # stored key, unique within the protocol
    ---
    -> ClearingSection                                    # the section of the same protocol holding the step
    step_order : int16                                    # 1.. global order within the protocol
    label : varchar(200)                                  # exact step label
    notes_max = 500 : int16                               # characters allowed in the step's notes
    """


@schema
class Atlas(dj.Lookup):
    """A registration atlas (seeded). Paths are relative to ``ATLAS_ROOT``."""

    definition = f"""
    # registration atlas
    atlas_name : {sql_enum(ATLAS_NAME)}                   # stored atlas name
    ---
    label : varchar(128)                                  # label shown to users
    template_path : varchar(512)                          # relative to ATLAS_ROOT; registration target volume
    annotation_path : varchar(512)                        # relative to ATLAS_ROOT; label volume (16-bit)
    voxel_x_um : float32                                  # µm, voxel size along x
    voxel_y_um : float32                                  # µm, voxel size along y
    voxel_z_um : float32                                  # µm, voxel size along z
    precomputed_path : varchar(512)                       # relative to ATLAS_ROOT; prebuilt segmentation layer
    is_active = 1 : bool                                  # 0: not offered for processing
    """
