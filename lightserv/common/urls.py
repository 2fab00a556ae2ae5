"""Links to this site: absolute ones start with SITE_URL; redirect targets (`next`) are followed only when
they are a relative path on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


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
