"""`python -m lib.synth <command> ...`: write synthetic raw data, atlases and stacks from the shell.

    python -m lib.synth lavision OUT --tiling 2x2 --overlap 0.1 --channels 488,647 --sheets left,right
    python -m lib.synth smartspim OUT --tiling 3x2 --channels 488,642 --no-stripes
    python -m lib.synth atlas OUT --max-side 96
    python -m lib.synth stack OUT --shape 256,2048,2048 --pattern noise
    python -m lib.synth corrupt FOLDER missing_plane

Shapes are z,y,x (planes, rows, columns); voxel sizes x,y,z in µm; tilings columns x rows. `--truth PATH`
writes the ground truth as JSON (never inside the acquisition folder, where it would be a stray file).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from .atlas import write_atlas
from .brain import Brain, make_brain
from .corrupt import CORRUPTION_KINDS, corrupt
from .lavision import write_lavision
from .names import Sheet, parse_tiling
from .smartspim import write_smartspim
from .stream import PATTERNS, write_plane_stack


def _ints(text: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError("expected three comma-separated integers z,y,x")
    return values[0], values[1], values[2]


def _floats(text: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError("expected three comma-separated numbers x,y,z")
    return values[0], values[1], values[2]


def _tiling(text: str) -> tuple[int, int]:
    try:
        return parse_tiling(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _brain_options(parser: argparse.ArgumentParser, voxel: str) -> None:
    parser.add_argument("--shape", type=_ints, default=(48, 128, 128), help="brain grid z,y,x (default 48,128,128)")
    parser.add_argument("--voxel", type=_floats, default=_floats(voxel), help=f"voxel size x,y,z µm ({voxel})")
    parser.add_argument("--cells", type=int, default=100, help="planted cells (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", type=Path, help="write the ground truth JSON here")


def _tile_options(parser: argparse.ArgumentParser, channels: str) -> None:
    parser.add_argument("--tiling", type=_tiling, default=(2, 2), help="columns x rows, e.g. 2x3 (default 2x2)")
    parser.add_argument("--overlap", type=float, default=0.1, help="tile overlap fraction (default 0.1)")
    parser.add_argument("--channels", type=_csv, default=_csv(channels), help=f"wavelengths (default {channels})")
    parser.add_argument("--ventral-up", action="store_true", help="the flipped (ventral-up) acquisition")
    parser.add_argument("--z-step", type=float, help="z step µm (default: the brain's z voxel size)")
    parser.add_argument("--jitter", type=int, default=0, help="max stage error per tile, pixels")
    parser.add_argument("--noise", type=float, default=10.0, help="read-noise sigma, counts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib.synth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    lavision = commands.add_parser("lavision", help="a LaVision UltraMicroscope II acquisition folder")
    lavision.add_argument("out", type=Path)
    _brain_options(lavision, "5,5,10")
    _tile_options(lavision, "488,647")
    lavision.add_argument("--sheets", type=_csv, default=["left", "right"], help="left,right (default both)")
    lavision.add_argument("--prefix", help="file-name prefix (default HH-MM-SS_UltraII_raw from the seed)")
    smartspim = commands.add_parser("smartspim", help="SmartSPIM channel subfolders under a resolution folder")
    smartspim.add_argument("out", type=Path)
    _brain_options(smartspim, "1.866,1.866,2")
    _tile_options(smartspim, "488,642")
    smartspim.add_argument("--no-stripes", action="store_true")
    smartspim.add_argument("--no-flat", action="store_true")
    atlas = commands.add_parser("atlas", help="template, annotation and ontology of a synthetic atlas")
    atlas.add_argument("out", type=Path)
    _brain_options(atlas, "5,5,10")
    atlas.add_argument("--max-side", type=int, default=96, help="voxels along the longest atlas axis")
    stack = commands.add_parser("stack", help="a large plane-per-file stack, written one plane at a time")
    stack.add_argument("out", type=Path)
    stack.add_argument("--shape", type=_ints, required=True, help="z,y,x")
    stack.add_argument("--dtype", default="uint16")
    stack.add_argument("--pattern", choices=sorted(PATTERNS), default="ramp")
    stack.add_argument("--name-format", default="{z:04d}.tif")
    stack.add_argument("--seed", type=int, default=0)
    broken = commands.add_parser("corrupt", help="break a generated folder in one controlled way")
    broken.add_argument("folder", type=Path)
    broken.add_argument("kind", choices=CORRUPTION_KINDS)
    broken.add_argument("--seed", type=int, default=0)
    return parser


def _brain(args: argparse.Namespace) -> Brain:
    return make_brain(tuple(args.shape), args.seed, voxel_size_um=tuple(args.voxel), n_cells=args.cells)


def _report(summary: str, truth: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(truth, indent=1) + "\n")
        summary += f"; ground truth in {path}"
    print(summary)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _run(args)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


def _run(args: argparse.Namespace) -> None:
    if args.command == "lavision":
        lavision = write_lavision(
            args.out,
            _brain(args),
            tiling=args.tiling,
            overlap=args.overlap,
            channels=args.channels,
            sheets=cast(list[Sheet], args.sheets),
            ventral_up=args.ventral_up,
            z_step_um=args.z_step,
            jitter_px=args.jitter,
            noise_sigma=args.noise,
            prefix=args.prefix,
        )
        _report(f"wrote {len(lavision.files)} LaVision files to {args.out}", lavision.to_json(), args.truth)
    elif args.command == "smartspim":
        smartspim = write_smartspim(
            args.out,
            _brain(args),
            tiling=args.tiling,
            overlap=args.overlap,
            channels=args.channels,
            ventral_up=args.ventral_up,
            z_step_um=args.z_step,
            jitter_px=args.jitter,
            noise_sigma=args.noise,
            stripes=not args.no_stripes,
            flat=not args.no_flat,
        )
        _report(f"wrote {len(smartspim.files)} SmartSPIM files to {args.out}", smartspim.to_json(), args.truth)
    elif args.command == "atlas":
        atlas = write_atlas(args.out, _brain(args), max_side=args.max_side)
        _report(
            f"wrote atlas {atlas.shape} (z,y,x) at {atlas.voxel_size_um[0]:.3f} µm to {args.out}",
            atlas.to_json(),
            args.truth,
        )
    elif args.command == "stack":
        stack = write_plane_stack(
            args.out, args.shape, args.dtype, args.pattern, name_format=args.name_format, seed=args.seed
        )
        print(f"wrote {len(stack.files)} planes ({stack.nbytes / 2**30:.2f} GiB) to {args.out}")
    else:
        change = corrupt(args.folder, args.kind, seed=args.seed)
        print(f"{change.kind}: {change.detail}")
