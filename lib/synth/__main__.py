"""`python -m lib.synth` (see lib/synth/cli.py)."""

import sys

from .cli import main

sys.exit(main())
