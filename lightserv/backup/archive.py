"""The backup archive: one tar file holding `manifest.json` and `dump.sql.gz`.

The manifest records when and from which prefix the dump was taken, the migrations applied to those
databases, the binary-log position of the snapshot (when the server keeps binary logs), the dump's size and
SHA-256, and every table's row count and checksum. An archive whose manifest is unreadable or whose dump
does not match its SHA-256 is refused before anything is touched.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .tables import DATABASE_SUFFIXES, LINEAGE_TABLE

FORMAT = "lightserv-backup 1"
MANIFEST = "manifest.json"
DUMP = "dump.sql.gz"
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why and what to do."""


def archive_path(destination: Path, prefix: str, now: dt.datetime) -> Path:
    """`destination` itself, or `lightserv-<prefix>-<UTC time>.tar` inside it when it is a folder."""
    if destination.is_dir() or str(destination).endswith("/"):
        destination.mkdir(parents=True, exist_ok=True)
        destination = destination / f"lightserv-{prefix.rstrip('_') or 'default'}-{now:%Y%m%dT%H%M%SZ}.tar"
    if destination.exists():
        raise BackupError(f"{destination} exists already; name a new file or a folder.")
    if not destination.parent.is_dir():
        raise BackupError(f"The folder {destination.parent} does not exist.")
    return destination


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def write_archive(path: Path, manifest: dict, dump_file: Path) -> None:
    """Write the archive under a temporary name readable by its owner only, then move it into place."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now(dt.UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump_file, arcname=DUMP, recursive=False)
        partial.chmod(0o600)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _damaged(path: Path, why: str) -> BackupError:
    return BackupError(f"{path} is not a usable lightserv backup: {why}. Nothing was restored.")


def read_manifest(path: Path) -> dict:
    """The archive's manifest, after checking that its dump is complete and unaltered (SHA-256)."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist.")
    try:
        with tarfile.open(path, "r:") as tar:
            member = tar.extractfile(MANIFEST)
            manifest = json.loads(member.read()) if member else None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise _damaged(path, f"no {FORMAT} manifest")
            _check_fields(path, manifest)
            dump = tar.extractfile(DUMP)
            if dump is None:
                raise _damaged(path, f"{DUMP} is missing")
            digest, size = sha256_of(dump)
    except (tarfile.TarError, KeyError, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"the archive cannot be read ({exc})") from None
    if (digest, size) != (manifest["dump"]["sha256"], manifest["dump"]["bytes"]):
        raise _damaged(path, f"{DUMP} differs from the SHA-256 and size its manifest recorded (damaged or altered)")
    return manifest


def _check_fields(path: Path, manifest: dict) -> None:
    tables = manifest.get("tables")
    dump = manifest.get("dump")
    valid = (
        isinstance(manifest.get("prefix"), str)
        and isinstance(manifest.get("migrations"), list)
        and isinstance(dump, dict)
        and isinstance(dump.get("sha256"), str)
        and isinstance(dump.get("bytes"), int)
        and isinstance(tables, dict)
        and all(
            isinstance(v, dict) and isinstance(v.get("rows"), int) and isinstance(v.get("checksum"), str)
            for v in tables.values()
        )
    )
    if not valid:
        raise _damaged(path, "its manifest lacks required fields")


def dump_chunks(path: Path) -> Iterator[bytes]:
    """The decompressed dump, in chunks."""
    with tarfile.open(path, "r:") as tar, gzip.GzipFile(fileobj=tar.extractfile(DUMP)) as dump:
        while chunk := dump.read(_CHUNK):
            yield chunk


def dump_lines(path: Path) -> Iterator[bytes]:
    with tarfile.open(path, "r:") as tar, gzip.GzipFile(fileobj=tar.extractfile(DUMP)) as dump:
        yield from dump


def renamed(lines: Iterable[bytes], old_prefix: str, new_prefix: str) -> Iterator[bytes]:
    """The dump's lines with its databases renamed to another prefix: in the CREATE DATABASE, USE and
    foreign-key lines, in trigger definitions, and in the rows of DataJoint's lineage tables. Other rows are
    never changed."""
    suffixes = b"|".join(s.encode() for s in DATABASE_SUFFIXES)
    old, new = old_prefix.encode(), new_prefix.encode()
    name = re.compile(rb"`" + re.escape(old) + rb"(" + suffixes + rb")`")
    bare = re.compile(rb"(?<![A-Za-z0-9_$])" + re.escape(old) + rb"(" + suffixes + rb")(?![A-Za-z0-9_$])")
    lineage = re.compile(rb"'" + re.escape(old) + rb"(" + suffixes + rb")\.")
    structure = (b"CREATE DATABASE ", b"USE ", b"  CONSTRAINT ")
    inserting: bytes | None = None  # the table whose INSERT statement is being read
    in_trigger = False
    for line in lines:
        if inserting is None and line.startswith(b"INSERT INTO `"):
            inserting = line[len(b"INSERT INTO `") :].split(b"`", 1)[0]
        in_trigger = in_trigger or (inserting is None and line.startswith(b"/*!50003 CREATE*/"))
        if in_trigger:  # a trigger's body may name tables with their database, quoted or not
            line = bare.sub(lambda m: new + m.group(1), line)
            in_trigger = not line.rstrip().endswith(b";;")
        elif inserting is None and line.startswith(structure):
            line = name.sub(lambda m: b"`" + new + m.group(1) + b"`", line)
        elif inserting == LINEAGE_TABLE.encode():
            line = lineage.sub(lambda m: b"'" + new + m.group(1) + b".", line)
        if inserting is not None and line.rstrip().endswith(b";"):
            inserting = None
        yield line
