"""The archival CSV (lightserv.admin.archival): its columns and limits, what a checked file plans to write, and
reading the file into rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

from lightserv.common.errors import DomainError

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_SAMPLES = 50
EARLIEST = dt.date(1990, 1, 1)
REQUEST_COLUMNS = ("owner", "request_name", "submitted_date", "species", "labname", "description",
                   "correspondence_email", "raw_data_retention_preference")  # fmt: skip
SAMPLE_COLUMNS = ("sample_name", "clearing_protocol", "antibody1", "antibody2", "clearing_spreadsheet_link",
                  "clearing_completed_date")  # fmt: skip
IMAGING_COLUMNS = ("image_resolution", "channels", "imaging_date", "imaging_path", "imaging_notes")
COLUMNS = REQUEST_COLUMNS + SAMPLE_COLUMNS + IMAGING_COLUMNS
REQUIRED = ("owner", "request_name", "submitted_date", "species", "sample_name", "clearing_protocol")
LIMITS = {"labname": 100, "description": 250, "correspondence_email": 100, "antibody1": 100, "antibody2": 100,
          "clearing_spreadsheet_link": 512, "imaging_path": 512, "imaging_notes": 1000}  # fmt: skip
EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
URL_RE = re.compile(r"^https?://[^\s<>\"']+$", re.I)
DEFAULT_DESCRIPTION = "Archival request"
EXAMPLE = {
    "owner": "ana", "request_name": "cfos_2019", "submitted_date": "2019-03-04", "species": "mouse",
    "labname": "Wang lab", "description": "c-Fos after task", "correspondence_email": "",
    "raw_data_retention_preference": "not sure", "sample_name": "m1", "clearing_protocol": "idisco_abbreviated",
    "antibody1": "", "antibody2": "", "clearing_spreadsheet_link": "https://sheets.example.org/cfos_2019",
    "clearing_completed_date": "2019-03-20", "image_resolution": "1.3x", "channels": "488;647",
    "imaging_date": "2019-03-25", "imaging_path": "/storage/archive/cfos_2019/m1/1.3x", "imaging_notes": "",
}  # fmt: skip


@dataclass(frozen=True)
class RowError:
    line: int  # spreadsheet row (1 = the header); 0 = the file as a whole
    column: str  # "" when the whole row or file is meant
    message: str


@dataclass
class PlannedImaging:
    line: int
    image_resolution: str
    channels: list[str]
    imaging_date: dt.date | None
    imaging_path: str
    notes: str


@dataclass
class PlannedSample:
    line: int
    sample_name: str
    protocol: str
    antibody1: str
    antibody2: str
    spreadsheet_link: str | None
    cleared_on: dt.date | None
    imaging: list[PlannedImaging] = field(default_factory=list)
    clearing_batch: int = 0


@dataclass
class PlannedRequest:
    line: int
    owner: str
    request_name: str
    submitted_on: dt.date
    species: str
    labname: str
    description: str
    correspondence_email: str
    preference: str
    samples: list[PlannedSample] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    @property
    def batches(self) -> int:
        return max((s.clearing_batch for s in self.samples), default=0)


@dataclass
class Plan:
    requests: list[PlannedRequest]
    errors: list[RowError]
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.requests)

    @property
    def samples(self) -> int:
        return sum(len(r.samples) for r in self.requests)


class ImportFailed(DomainError):
    """The import could not be written (nothing was)."""


def decode(data: bytes) -> tuple[str | None, RowError | None]:
    if len(data) > MAX_BYTES:
        return None, RowError(0, "", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, RowError(0, "", "The file is not UTF-8 text. Save it from the spreadsheet as “CSV UTF-8”.")


def _header_name(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def read_rows(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    """(line, row) pairs with every known column (missing = ""), or the file's problems."""
    if "\x00" in text:
        return [], [RowError(0, "", "The file contains NUL characters; it is not a CSV file.")]
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    try:
        for number, record in enumerate(reader, start=1):  # spreadsheet row numbers (header = 1)
            records.append((number, record))
    except csv.Error as exc:
        return [], [RowError(len(records) + 1, "", f"The CSV cannot be read from here on: {exc}.")]
    records = [(n, r) for n, r in records if any(c.strip() for c in r)]
    if not records:
        return [], [RowError(0, "", "The file is empty. The first line must name the columns.")]
    header_line, header = records[0]
    names = [_header_name(h) for h in header]
    errors = []
    unknown = [h for h, n in zip(header, names, strict=True) if n and n not in COLUMNS]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        known = ", ".join(COLUMNS)
        errors.append(
            RowError(header_line, "", f"Unknown column{plural}: {', '.join(unknown)}. The columns are: {known}.")
        )
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        errors.append(RowError(header_line, "", f"Column{'s' if len(repeated) > 1 else ''} named twice: "
                                                f"{', '.join(repeated)}."))  # fmt: skip
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        errors.append(RowError(header_line, "", f"Required column{'s' if len(missing) > 1 else ''} missing: "
                                                f"{', '.join(missing)}."))  # fmt: skip
    if len(records) - 1 > MAX_ROWS:
        errors.append(RowError(0, "", f"The file has {len(records) - 1} rows; at most {MAX_ROWS} per import."))
    if len(records) == 1:
        errors.append(RowError(0, "", "The file has a header but no rows."))
    if errors:
        return [], errors
    rows = []
    for line, record in records[1:]:
        if len(record) > len(names) and any(c.strip() for c in record[len(names) :]):
            errors.append(RowError(line, "", f"The row has {len(record)} cells but the header names {len(names)}."))
            continue
        row = {c: "" for c in COLUMNS}
        for name, value in zip(names, record, strict=False):
            if name:
                row[name] = value.strip()
        rows.append((line, row))
    return rows, errors


def template_rows() -> list[list[str]]:
    return [list(COLUMNS), [EXAMPLE[c] for c in COLUMNS]]
