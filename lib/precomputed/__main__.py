"""`python -m lib.precomputed <stage> --params PARAMS.json --task-index K --task-count N` (see cli.py)."""

from .cli import main

raise SystemExit(main())
