"""The SmartSPIM stages: stitching and destriping with flat-field correction.

Stitching run (one per resolution and side, all channels, `SmartspimParams`):
alignment channel `import` -> `displcompute` -> `place` -> `merge`; every other channel `import` ->
`copy_placement` -> `merge`. The run has these five stages for all channels; `stages.py` says which task
does which channel. Destriping run (one per channel, `DestripeParams`): `destripe`.

- `tiles`          the tile tree of a channel, its checks and the import manifest
- `displacements`  pairwise tile displacements by phase correlation on the nominal grid
- `placement`      least-squares placement with reliability thresholding; copies for other channels
- `merge`          blended stitched planes, one at a time
- `stripes`        stripe removal from one plane (shadow profiles, or the pystripe wavelet/FFT notch)
- `destripe`       the destriping stage: flat-field division, stripe removal, plane chunks
- `stages`         the runners of `python -m lib.pipeline.smartspim`
"""

from .destripe import correct_plane, destripe_planes, read_flat
from .displacements import Displacement, compute_displacements
from .merge import merge_planes
from .placement import Placement, copy_for_channel, read_placement, solve_placement
from .stages import RUNNERS, channels_of_task
from .stripes import StripeFilter, remove_stripes
from .tiles import ChannelTiles, TileSource, read_manifest, scan_channel

__all__ = [
    "RUNNERS",
    "ChannelTiles",
    "Displacement",
    "Placement",
    "StripeFilter",
    "TileSource",
    "channels_of_task",
    "compute_displacements",
    "copy_for_channel",
    "destripe_planes",
    "correct_plane",
    "merge_planes",
    "read_flat",
    "read_manifest",
    "read_placement",
    "remove_stripes",
    "scan_channel",
    "solve_placement",
]
