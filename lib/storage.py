"""Creating and removing request folders on shared storage."""

from __future__ import annotations

import grp
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

FOLDER_MODE = 0o2770  # setgid, owner and group only, never world-accessible


class StorageError(Exception):
    pass


def safe_join(root: Path, relative: PurePosixPath | str) -> Path:
    """`root/relative`, refusing absolute paths and `..` escapes."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise StorageError(f"refusing path outside the data root: {relative}")
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise StorageError(f"refusing path outside the data root: {relative}")
    return path


def make_folders(root: Path, folders: Iterable[PurePosixPath | str], group: str = "") -> list[Path]:
    """Create each folder (and missing parents below `root`) with mode 2770 and the data group."""
    gid = grp.getgrnam(group).gr_gid if group else -1
    created = []
    root = Path(root)
    for rel in folders:
        target = safe_join(root, rel)
        missing = []
        probe = target
        while not probe.exists() and probe != root:
            missing.append(probe)
            probe = probe.parent
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            if gid != -1:
                os.chown(folder, -1, gid)
            os.chmod(folder, FOLDER_MODE)  # chmod after mkdir: the umask must not weaken the mode
            created.append(folder)
    return created


def remove_if_empty(root: Path, folder: PurePosixPath | str) -> tuple[bool, list[str]]:
    """Remove `folder` and its sub-folders if no files are below it. Returns (removed, files found)."""
    target = safe_join(Path(root), folder)
    if not target.exists():
        return True, []
    files = [str(p.relative_to(target)) for p in target.rglob("*") if not p.is_dir()]
    if files:
        return False, files[:20]
    for dirpath, _dirs, _files in sorted(os.walk(target), key=lambda t: -len(t[0])):
        os.rmdir(dirpath)
    return True, []


TB = 1000**4


def measure(path: Path) -> tuple[float, float, float]:
    """(size, used, available) in TB of the file system holding `path`, from statvfs."""
    stats = os.statvfs(path)
    size = stats.f_blocks * stats.f_frsize
    avail = stats.f_bavail * stats.f_frsize
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    return size / TB, used / TB, avail / TB
