"""Links to this site: absolute ones start with SITE_URL; redirect targets (`next`) are followed only when
they are a relative path on this site."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from flask import current_app, url_for


def absolute(path: str) -> str:
    """`path` on this site as an absolute link (emails, exports, the API): SITE_URL + path."""
    return current_app.config["SETTINGS"].site_url + "/" + path.lstrip("/")


def is_safe_next(target: str | None) -> bool:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    if any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


#: what Werkzeug's converters leave unquoted in a path part
_PATH_SAFE = "!$&'()*+,/:;=@"
_MARKER = 918_273_645_000  # a number no route spells, valid for string and int converters alike


def url_builder(endpoint: str, names: tuple[str, ...]) -> Callable[[Sequence], str]:
    """`url_for(endpoint, **dict(zip(names, values)))` for the many rows of a table at the cost of a join: the
    URL is built once with markers, and each row's values are quoted into it as Werkzeug quotes path parts.
    An argument that is not a path part of the route falls back to `url_for` for every row."""
    markers = [str(_MARKER + i) for i in range(len(names))]
    template = url_for(endpoint, **dict(zip(names, markers, strict=True)))
    pieces = re.split("(" + "|".join(markers) + ")", template)
    if "?" in template or sorted(pieces[1::2]) != sorted(markers):
        return lambda values: url_for(endpoint, **dict(zip(names, values, strict=True)))
    slots, literals = [markers.index(m) for m in pieces[1::2]], pieces[0::2]

    def build(values: Sequence) -> str:
        out = [literals[0]]
        for slot, literal in zip(slots, literals[1:], strict=True):
            out += (_path_part(str(values[slot])), literal)
        return "".join(out)

    return build


@functools.lru_cache(maxsize=4096)
def _path_part(value: str) -> str:
    """`value` quoted as a path part (a page's rows repeat their owners and request names)."""
    return quote(value, safe=_PATH_SAFE)
