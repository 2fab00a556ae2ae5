"""The stage runners of `python -m lib.pipeline.lavision <stage>`, by stage name."""

from __future__ import annotations

from ..cli import Runner
from .blend import run_blend
from .downsize import run_downsize
from .setup import run_setup
from .stitch import run_stitch

RUNNERS: dict[str, Runner] = {
    "setup": run_setup,
    "blend": run_blend,
    "stitch": run_stitch,
    "downsize": run_downsize,
}
