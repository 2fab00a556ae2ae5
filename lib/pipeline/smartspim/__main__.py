"""`python -m lib.pipeline.smartspim <stage> --params P.json --task-index K --task-count N`"""

from ..cli import main
from .stages import RUNNERS

if __name__ == "__main__":
    raise SystemExit(main("python -m lib.pipeline.smartspim", RUNNERS))
