"""The unactivated ``<prefix>lightsheet`` schema every table of :mod:`schemas.lightsheet` is declared on."""

from __future__ import annotations

import datajoint as dj

schema = dj.Schema()  # activated by schemas.activate_all(prefix)
