"""gunicorn entry: `gunicorn viewer_launcher.wsgi:app` (see __main__.py for the options we run it with)."""

import logging
import sys

from .app import create_app
from .config import ConfigError

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")

try:
    app = create_app()
except ConfigError as exc:
    print(f"viewer-launcher cannot start: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
