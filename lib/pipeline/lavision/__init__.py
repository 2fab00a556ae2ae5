"""The LaVision pipeline stages `setup`, `blend`, `stitch` and `downsize`:

    python -m lib.pipeline.lavision <stage> --params PARAMS.json --task-index K --task-count N

| stage      | tasks               | writes (layout.py)                                                  |
|------------|---------------------|---------------------------------------------------------------------|
| `setup`    | one                 | the output tree, `params.json` (if absent), `metadata.json`         |
| `blend`    | one per plane chunk | `full_size_dir`, `resized_dir` (1x1 tiling)                         |
| `stitch`   | one per channel     | `stitched_sheet_dir` per sheet, `full_size_dir`, `resized_dir`,     |
|            |                     | `<subfolder>_ch<NN>_placement.json` (tiled data)                    |
| `downsize` | one per channel     | `downsized_volume` and its sidecar `<volume file name>.json`        |

Array task k of N works on items k, k + N, k + 2N, ... (plane chunks of `planes_per_array_task` planes
for `blend`; channels in parameter-document order for `stitch` and `downsize`), so N = number of items
gives one item per task and N = 1 does everything. Plane files are 16-bit `plane_<zzzz>.tif`, written
under a temporary name and renamed, so a plane that exists is complete.

Raw input (raw.py): one 16-bit single-plane TIFF per (tile, sheet, plane, channel); a channel's files are
those of its raw folder with `Filter<ffff>` = its two-digit index; `C00` is the left sheet (or the only
one), `C01` the right sheet when both were used.

Coordinates. Arrays are indexed [z, y, x]; voxel coordinates are written (x, y, z) with x = column,
y = row, z = plane, and voxel centres at integer coordinates. Full resolution means the blended
full-size planes, i.e. raw voxels for one tile and the stitched canvas for tiled data.

Stitching (placement.py, stitch.py). Tile (column c, row r) sits nominally at (c·step_x, r·step_y),
step = round(tile size · (1 − tiling_overlap)); columns run along x, rows along y. The placement is
measured once per channel (masked phase correlation, `skimage.registration.phase_cross_correlation` with
masks, of the nominal overlaps widened by their width, on a maximum projection over up to 16 planes of
the sum of the sheets; then a global weighted least-squares solve, rounded to whole pixels; the result,
with every pair's measurement and score, is `<subfolder>_ch<NN>_placement.json`) and used for every plane
and both sheets. Overlaps are blended with linear (feathered) weights over the nominal overlap width;
canvas pixels that no tile covers are 0.

Sheet blending (sheets.py). Weight of the left sheet in column x of a plane W pixels wide:
`sigmoidal`: 1 / (1 + exp((x − (W − 1)/2) / s)), s = max(1, W/40) px, so the left sheet (entering at
x = 0, brightest on the left) dominates the left half and the right sheet the right half, handing over
within ±W/10 of the centre; `flat`: 0.5 (the average). The right sheet gets 1 − weight. For tiled data
the weights run across the stitched canvas. With one sheet the plane is taken as it is.

Intensity correction (`intensitycorrection: true`). Before blending, the two sheets are brought to the
same brightness where they hand over. In the central band of the plane (x_c ± 0.05·W) both sheets light
the same tissue, so the ratio of the two images' standard deviations there is the ratio of the sheets'
illuminations, whatever the camera offset; each sheet's signal above its background (its 2nd
percentile, i.e. the offset where the plane shows some background) is multiplied by a gain bringing both
to their geometric mean (gains clamped to 0.25..4; a band without tissue gives gains ≈ 1). This removes
a difference in laser power between the sheets (a step or a tilt across the blended plane); it does not
flatten the fall-off within one sheet, which the blend does.

Resized planes: the blended plane area-averaged in-plane by `resizefactor` f (each output pixel is the
mean of an f × f block; the last partial blocks average the pixels they have): shape ⌈H/f⌉ × ⌈W/f⌉,
and resized voxel (x', y', z) has its centre at full-resolution ((x' + 0.5)·f − 0.5, (y' + 0.5)·f − 0.5, z).

Downsized volume (downsize.py, resample.py). Input: the resized planes, voxel (x·f, y·f, z) µm from
`xyz_scale_um`. Each input axis is resampled separately to the `downsized_voxel_um` of the output axis it
becomes: with r = target voxel / input voxel, n_out = max(1, round(n_in / r)), output voxel j covering
input [j·r, (j + 1)·r) (voxel-edge units), i.e. centred at input coordinate (j + 0.5)·r − 0.5; values are
area-weighted means (r > 1, mean-preserving) or linear interpolation (r ≤ 1). Then `finalorientation`: output axis i
takes input axis int(s_i), reversed when s_i starts with '-'.
The voxel sizes of the output are exactly `downsized_voxel_um`. The TIFF is one page per output z
(ImageJ hyperstack, ZYX, with the x/y resolution and z spacing in µm), 16-bit.

Sidecar `<subfolder>_resized_ch<NN>_resampledforelastix.tif.json` beside the volume:

    volume, channel, shape_xyz and shape_zyx (of the downsized volume), voxel_size_um (x, y, z), dtype,
    finalorientation,
    resizefactor, full_voxel_um, full_shape_xyz (or null), resized_voxel_um, resized_shape_xyz,
    full_to_downsized, downsized_to_full, resized_to_downsized, conventions

`full_to_downsized` is a 4x4 affine (row-major nested lists) acting on column vectors: for a cell at
full-resolution voxel (x, y, z) (e.g. a row of `cells.csv`),

    (u, v, w, 1)ᵀ = full_to_downsized · (x, y, z, 1)ᵀ

is its voxel in the downsized volume, array element `volume[round(w), round(v), round(u)]`
(page w, row v, column u), centres at integers. It is the product orientation · resampling · resize:
per input axis a, c ↦ ((c + 0.5)/f − 0.5) for x and y (the resize), then c ↦ (c + 0.5)/r_a − 0.5 (the
resampling), then the permutation and reversals of `finalorientation` (reversed: c ↦ n_out − 1 − c).
`downsized_to_full` is its inverse; `resized_to_downsized` starts from resized-plane voxels instead.
Physical µm of a downsized voxel are (u, v, w) × voxel_size_um.
"""
