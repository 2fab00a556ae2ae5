"""The retention report: what on shared storage is past the facility's
retention rules, with its size, owner, request and age. Nothing here deletes anything.

Two lists, each filtered, sorted and paged in SQL (lightserv.admin.queries.retention); sizes are measured on
disk for the rows of the page only:

- **raw data**: completed requests (the derived status of lightserv.common.status) whose work finished more
  than the chosen number of days ago, with their raw-data retention preference (grouped in a summary) and
  the size of their `rawdata/` folders where those exist. "Finished" is the latest of the clearing
  batches' completion, the imaging performed dates and the processing completions (the submission for a
  request without any). Processed data is always kept, so only raw data is measured.
- **superseded outputs**: pipeline runs replaced by a re-run (`superseded_by_run_id`) more than
  `SUPERSEDED_RETENTION_DAYS` ago (or all of them), with the size of what the re-run moved aside
  (`<output>/superseded/attempt_<n>/` and `viz/.superseded/run_<id>/`, lightserv.processing.triggers);
  the daily retention job deletes those folders, so a row still on disk past the limit means the job is
  behind or failing.

Requests flagged `testing` are left out unless asked for. Sizes are apparent sizes (the sum
of the files' lengths, like `du --apparent-size`), cached in Redis for an hour per folder; measuring one
page stops after `MEASURE_BUDGET_SECONDS` and the rest of the page says so (a reload continues, cached).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from lib.naming import viz_dir
from lightserv.common.audit import utcnow

MEASURE_BUDGET_SECONDS = 20.0
CACHE_SECONDS = 3600

# --- sizes on disk ----------------------------------------------------------------------------------------


@dataclass
class Size:
    state: str  # "measured" | "missing" (no such folder: unknown) | "skipped" (time budget spent)
    bytes: int = 0
    files: int = 0
    folders: tuple[str, ...] = ()  # relative to DATA_ROOT, those that exist

    @property
    def known(self) -> bool:
        return self.state == "measured"


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes, files) below `path`: the files' lengths, never following symbolic links."""
    total = files = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                            files += 1
                    except OSError:
                        continue
        except OSError:
            continue
    return total, files


def _cached_tree_size(path: Path) -> tuple[int, int]:
    from lightserv.common.redis import get_redis

    key = "lightserv:retention:size:" + hashlib.sha256(str(path).encode()).hexdigest()
    try:
        redis = get_redis()
        cached = redis.get(key)
    except Exception:  # noqa: BLE001 - a cache that is down only costs time
        redis, cached = None, None
    if cached:
        text = cached.decode() if isinstance(cached, bytes) else str(cached)
        size, files = (int(v) for v in text.split())
        return size, files
    size, files = tree_size(path)
    if redis is not None:
        try:
            redis.set(key, f"{size} {files}", ex=CACHE_SECONDS)
        except Exception:  # noqa: BLE001 - a cache that is down only costs time
            current_app.logger.warning("could not cache the size of %s", path)
    return size, files


class Measurer:
    """Measures folders until `budget` seconds are spent; later calls answer "skipped"."""

    def __init__(self, root: Path, budget: float | None) -> None:
        self.root = Path(root)
        self.deadline = None if budget is None else time.monotonic() + budget

    def measure(self, relative: Iterable[str]) -> Size:
        root = self.root.resolve()
        found = []
        for rel in relative:
            path = (self.root / rel).resolve()
            if path.is_relative_to(root) and path.is_dir():
                found.append(path)
        if not found:
            return Size("missing")
        if self.deadline is not None and time.monotonic() > self.deadline:
            return Size("skipped", folders=tuple(str(p.relative_to(root)) for p in found))
        total = files = 0
        for path in found:
            size, count = _cached_tree_size(path)
            total, files = total + size, files + count
        return Size("measured", total, files, tuple(str(p.relative_to(root)) for p in found))


def raw_folders(root: Path, row: dict) -> list[str]:
    """The `rawdata/` folders of every imaging request of the request (relative to DATA_ROOT)."""
    base = Path(root) / row["username"] / row["request_name"]
    if not base.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in base.glob("*/imaging_request_*/rawdata"))


def superseded_folders(row: dict) -> list[str]:
    """What the re-run of `row` moved aside (relative to DATA_ROOT)."""
    viz = viz_dir(row["username"], row["request_name"], row["sample_name"], row["imaging_request_number"])
    return [
        f"{row['output_dir'].rstrip('/')}/superseded/attempt_{int(row['attempt'])}",
        f"{viz}/.superseded/run_{int(row['run_id'])}",
    ]


def with_sizes(rows: list[dict], view: str, measurer: Measurer) -> list[dict]:
    for row in rows:
        folders = raw_folders(measurer.root, row) if view == "raw" else superseded_folders(row)
        row["size"] = measurer.measure(folders)
    return rows


def settings_root() -> Path:
    return Path(current_app.config["SETTINGS"].data_root)


def age_days(since: dt.datetime | None, now: dt.datetime | None = None) -> int | None:
    if since is None:
        return None
    return max(0, ((now or utcnow()) - since).days)
