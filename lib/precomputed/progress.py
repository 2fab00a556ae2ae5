"""Progress markers of a conversion run: one small file per finished slab under the
run's progress folder, never inside the layer. A restarted task skips slabs whose marker exists.

    <progress_dir>/upload/<z0>-<z1>               scale-0 planes [z0, z1) are in the layer
    <progress_dir>/downsample/mip<m>/<z0>-<z1>    planes [z0, z1) of scale m are in the layer
    <progress_dir>/downsample/ledger.json         which scale-0 ranges finished their parallel part,
                                                  read and written only under an exclusive lock

A marker is written (atomically: temporary file, then rename) only after its slab's chunks are written,
so a task killed mid-slab leaves no marker and the slab is written again on restart.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Progress:
    """Markers of one stage (`upload`, or `downsample/mip<m>`)."""

    def __init__(self, progress_dir: Path, part: str) -> None:
        self.folder = progress_dir / part

    def marker(self, z0: int, z1: int) -> Path:
        return self.folder / f"{z0}-{z1}"

    def is_done(self, z0: int, z1: int) -> bool:
        return self.marker(z0, z1).is_file()

    def mark_done(self, z0: int, z1: int, task_index: int) -> None:
        doc = {"planes": [z0, z1], "task_index": task_index, "finished_at": datetime.now(UTC).isoformat()}
        write_atomically(self.marker(z0, z1), json.dumps(doc) + "\n")

    def done(self) -> list[tuple[int, int]]:
        """Finished ranges, sorted (for progress displays and tests)."""
        if not self.folder.is_dir():
            return []
        found = []
        for entry in self.folder.iterdir():
            first, sep, last = entry.name.partition("-")
            if sep and first.isdigit() and last.isdigit():
                found.append((int(first), int(last)))
        return sorted(found)


class Ledger:
    """A JSON document shared by the array tasks of one stage, changed only while holding its lock.

    The lock is a POSIX record lock (`lockf`) on a sibling file: released by the kernel when the holder
    dies, and honoured across nodes on NFSv4 and on GPFS (Lustre needs the `flock` mount option), where
    taking it also makes the file's current content visible to the reader.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}

    def write(self, doc: dict[str, Any]) -> None:
        write_atomically(self.path, json.dumps(doc, sort_keys=True) + "\n")


def covers(ranges: list[list[int]], total: int) -> bool:
    """Whether the union of half-open ranges covers [0, total)."""
    reached = 0
    for start, end in sorted((int(r[0]), int(r[1])) for r in ranges):
        if start > reached:
            return False
        reached = max(reached, end)
    return reached >= total
