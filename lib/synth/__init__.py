"""Synthetic raw data with known ground truth: LaVision and SmartSPIM acquisitions in the
microscopes' naming conventions, a small Allen-shaped atlas, streamed gigavoxel stacks, and controlled
corruptions for validation tests. No Flask or Celery here.

    brain = make_brain((48, 128, 128), seed=1)
    lavision = write_lavision(folder, brain, tiling=(2, 2), overlap=0.2)
    atlas = write_atlas(atlas_dir, brain)
"""

from .anatomy import ONTOLOGY, Structure, label_ids, ontology_json
from .atlas import AtlasTruth, write_atlas
from .brain import RESOLUTION_PIXEL_UM, Brain, ChannelLook, apply_affine, channel_look, make_brain, voxel_size_for
from .corrupt import CORRUPTION_KINDS, Corruption, CorruptionKind, corrupt
from .lavision import LavisionTruth, write_lavision
from .names import (
    filter_indexes,
    lavision_file_name,
    parse_tiling,
    sheet_codes,
    smartspim_channel_folder,
)
from .optics import StripePattern, Tile, TileGrid
from .smartspim import SmartspimTruth, write_smartspim
from .stream import PlaneStack, noise_pattern, ramp_pattern, write_plane_stack

__all__ = [
    "CORRUPTION_KINDS",
    "ONTOLOGY",
    "RESOLUTION_PIXEL_UM",
    "AtlasTruth",
    "Brain",
    "ChannelLook",
    "Corruption",
    "CorruptionKind",
    "LavisionTruth",
    "PlaneStack",
    "SmartspimTruth",
    "StripePattern",
    "Structure",
    "Tile",
    "TileGrid",
    "apply_affine",
    "channel_look",
    "corrupt",
    "filter_indexes",
    "label_ids",
    "lavision_file_name",
    "make_brain",
    "noise_pattern",
    "ontology_json",
    "parse_tiling",
    "ramp_pattern",
    "sheet_codes",
    "smartspim_channel_folder",
    "voxel_size_for",
    "write_atlas",
    "write_lavision",
    "write_plane_stack",
    "write_smartspim",
]
