"""Server-side pagination and whitelisted SQL sorting for every list."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int
    sort: str
    direction: str  # "asc" | "desc"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def order_by(self, columns: dict[str, str], tiebreak: list[str]) -> list[str]:
        """DataJoint/SQL order_by list: the whitelisted column then the key columns for stable pages."""
        first = f"{columns[self.sort]} {self.direction.upper()}"
        return [first] + [f"{c} {self.direction.upper()}" for c in tiebreak if c != columns[self.sort]]


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    request: PageRequest

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.per_page))

    @property
    def has_prev(self) -> bool:
        return self.request.page > 1

    @property
    def has_next(self) -> bool:
        return self.request.page < self.pages


def parse_page_request(
    allowed_sorts: dict[str, str], default_sort: str, default_direction: str = "desc", per_page: int = 50
) -> PageRequest:
    """Read `?page=&sort=&direction=`; unknown or hostile values fall back to defaults, never a 500."""
    args = request.args
    try:
        page = int(args.get("page", "1"))
    except ValueError:
        page = 1
    page = min(max(page, 1), 1_000_000)
    sort = args.get("sort", default_sort)
    if sort not in allowed_sorts:
        sort = default_sort
    direction = args.get("direction", default_direction)
    if direction not in ("asc", "desc"):
        direction = default_direction
    return PageRequest(page=page, per_page=per_page, sort=sort, direction=direction)
