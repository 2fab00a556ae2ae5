"""The LaVision stages `register` and `detect` (stages 3 and 4).

    python -m lib.pipeline.registration register --params P.json --task-index K --task-count N
    python -m lib.pipeline.registration detect   --params P.json --task-index K --task-count N

Inputs (from the earlier stages, paths in `lib.pipeline.layout`):

- `<subfolder>_resized_ch<NN>_resampledforelastix.tif`: the downsized volume, a 16-bit multi-page TIFF
  (pages = z) in output (sagittal) orientation, and its sidecar `<that file name>.json`:

      {"voxel_size_um": [x, y, z],            # µm per downsized voxel
       "shape_zyx": [nz, ny, nx],             # the TIFF's array shape
       "full_to_downsized": [[...] x 4]}      # 4x4 affine on column vectors (x, y, z, 1): full-resolution
                                              # voxel (blended planes, raw orientation, z = plane) ->
                                              # downsized voxel (orientation change and scaling included)

  `register` falls back to the document's `downsized_voxel_um` when the sidecar is missing; `detect`
  requires it.
- `full_sizedatafld/<subfolder>_ch<NN>/plane_<zzzz>.tif`: blended full-resolution planes (detect).
- `atlasfile` (template), `annotationfile` (labels, same grid), optional `ontologyfile`. The atlas voxel is
  `downsized_voxel_um` × 1.3.

Outputs (`elastix/`): `TransformParameters.0.txt` (affine) and `.1.txt` (B-spline, composed on the
affine), `result.1.tif` (the registration channel in atlas space), `<subfolder>_resized_ch<NN>/result.tif`
(every other channel), `deformationField.mhd/.raw` (for mapping points), `elastix.log`, the parameter
files used (`parameters.*.txt`), and `registration.json`, the done marker (see `claim`). Under
`cells/ch<NN>/`: `cells.csv`, `cells_registered.csv`, `cell_counts_by_region.csv`.

Directions: elastix's transform maps atlas (fixed) points to sample (moving) points, which resamples
volumes into atlas space; cells go sample -> atlas through its numerical inverse (`transform`). Atlas and
downsized voxel coordinates are (x, y, z) = (column, row, page) with voxel centres at integers.
"""

from ..cli import Runner
from .detect import run_detect
from .register import run_register

RUNNERS: dict[str, Runner] = {"register": run_register, "detect": run_detect}

__all__ = ["RUNNERS", "run_detect", "run_register"]
