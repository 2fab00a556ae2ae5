"""`python -m lib.pipeline.lavision <stage> --params P.json --task-index K --task-count N`."""

from __future__ import annotations

import sys

from ..cli import main
from .runners import RUNNERS

if __name__ == "__main__":
    sys.exit(main("python -m lib.pipeline.lavision", RUNNERS))
