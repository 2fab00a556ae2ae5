"""Entry program of the `registration` neuroglancer container (atlas-space views: registered layers, the atlas
overlay with region names, registered cells). Shares the state builder with neuroglancer/; in the image both
modules sit next to this file, in a checkout they are found in ../neuroglancer."""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent
if not (_here / "ngserver.py").exists():
    sys.path.insert(0, str(_here.parent / "neuroglancer"))

from ngserver import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("registration"))
