"""Neuroglancer precomputed layers from TIFF stacks.

No Flask or Celery here: the stages run as cluster jobs (`python -m lib.precomputed <stage> ...`, see
cli.py) and read one JSON parameter document (params.py). Stages:

- `info`               check the input and write the layer's `info` with its whole scale pyramid
- `upload`             scale 0 in z-slabs one chunk thick, split over array tasks, resumable
- `downsample`         every further scale from the one below (mean for images, mode for
                       segmentations), in slabs, split over array tasks, resumable
- `annotations`        a point annotation layer (cells) with `by_id` and spatial indexes
- `segment_properties` region names of a segmentation layer from an ontology
"""

from .annotations import Points, build_annotations, read_points, spatial_levels
from .cli import STAGES, main, run_stage
from .downsample import downsample
from .errors import ConversionError
from .geometry import Scale, downsample_plan, plan_scales, task_slabs
from .info import LayerSummary, build_info, describe_layer, read_scales, write_info
from .params import ConversionParams, load_params, parse_params
from .pooling import mean_pool, mode_pool
from .progress import Progress
from .report import StageReport
from .segment_properties import read_ontology, segment_properties_document, write_segment_properties
from .tiffsource import TiffStack
from .upload import upload

__all__ = [
    "STAGES",
    "ConversionError",
    "ConversionParams",
    "LayerSummary",
    "Points",
    "Progress",
    "Scale",
    "StageReport",
    "TiffStack",
    "build_annotations",
    "build_info",
    "describe_layer",
    "downsample",
    "downsample_plan",
    "load_params",
    "main",
    "mean_pool",
    "mode_pool",
    "parse_params",
    "plan_scales",
    "read_ontology",
    "read_points",
    "read_scales",
    "run_stage",
    "segment_properties_document",
    "spatial_levels",
    "task_slabs",
    "upload",
    "write_info",
    "write_segment_properties",
]
