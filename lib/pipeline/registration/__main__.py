"""`python -m lib.pipeline.registration <register|detect> --params P.json --task-index K --task-count N`."""

import sys

from ..cli import main
from . import RUNNERS

if __name__ == "__main__":
    sys.exit(main("python -m lib.pipeline.registration", RUNNERS))
