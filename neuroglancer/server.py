"""Entry program of the `general` neuroglancer container (full-resolution and downsized views)."""

import sys

from ngserver import main

if __name__ == "__main__":
    sys.exit(main("general"))
