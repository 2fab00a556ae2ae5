"""Strict query-string parsing for the API: a bad value is a 400 naming the parameter, never a silent
default (the HTML pages fall back to defaults instead; an API client should hear about its typo)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import abort, request

from lightserv.common.pagination import PageRequest

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
PAGING = ("page", "per_page", "sort", "direction")

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
REQUEST_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
SAMPLE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Args:
    """The query arguments of one API call; `allowed` names every filter the endpoint knows."""

    def __init__(self, allowed: Iterable[str], paged: bool = True):
        known = set(allowed) | (set(PAGING) if paged else set())
        unknown = sorted(set(request.args) - known)
        if unknown:
            abort(400, f"Unknown parameter: {', '.join(unknown)}. Allowed: {', '.join(sorted(known)) or 'none'}.")
        for name in request.args:
            if len(request.args.getlist(name)) > 1:
                abort(400, f"Parameter {name} is given more than once.")

    @staticmethod
    def raw(name: str) -> str | None:
        return request.args.get(name)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        if not re.fullmatch(r"\d{1,9}", value) or not low <= int(value) <= high:
            abort(400, f"{name} must be a whole number from {low} to {high}.")
        return int(value)

    def choice(self, name: str, choices: Iterable[str]) -> str:
        """'' when absent; 400 when not one of `choices`."""
        value = self.raw(name)
        if value is None or value == "":
            return ""
        allowed = list(choices)
        if value not in allowed:
            abort(400, f"{name} must be one of: {', '.join(allowed)}.")
        return value

    def matching(self, name: str, pattern: re.Pattern, what: str) -> str:
        value = self.raw(name)
        if value is None or value == "":
            return ""
        if not pattern.fullmatch(value):
            abort(400, f"{name} is not a valid {what}.")
        return value

    def text(self, name: str, max_length: int) -> str:
        value = (self.raw(name) or "").strip()
        if len(value) > max_length:
            abort(400, f"{name} is longer than {max_length} characters.")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if value not in ("0", "1", "true", "false"):
            abort(400, f"{name} must be 1 or 0.")
        return value in ("1", "true")

    def page_request(self, sorts: Iterable[str], default_sort: str, default_direction: str = "desc") -> PageRequest:
        sorts = list(sorts)
        sort = self.raw("sort") or default_sort
        if sort not in sorts:
            abort(400, f"sort must be one of: {', '.join(sorts)}.")
        direction = self.raw("direction") or default_direction
        if direction not in ("asc", "desc"):
            abort(400, "direction must be asc or desc.")
        return PageRequest(
            page=self.integer("page", 1, 1, MAX_PAGE),
            per_page=self.integer("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
            sort=sort,
            direction=direction,
        )
