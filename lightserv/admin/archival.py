"""Archival import (README §8, requests.md §4-6): requests done before lightserv, entered by a facility admin
from a CSV. Every row is validated first; the import writes all of them in one DataJoint transaction (with
their event-log rows) or nothing.

The CSV has one row per sample and imaged resolution (a sample imaged at two resolutions has two rows;
a sample without an imaging record has one row with no resolution). Rows of the same owner and request
name form one request; the request columns may be left empty on its later rows (they repeat the first),
and so may the sample columns on a sample's later rows. Columns (header names; * = required):

| column | rule |
|---|---|
| owner* | an existing lightserv user (create it on Users & roles first) |
| request_name* | letters, digits, underscores, at most 64; new for that owner (case-insensitively) |
| submitted_date* | YYYY-MM-DD, not in the future: when the request was made |
| species* | mouse, rat, primate, marsupial |
| labname, description, correspondence_email | at most 100 / 250 / 100; the email defaults to the owner's |
| raw_data_retention_preference | important, kind of important, not important, not sure (default) |
| sample_name* | letters, digits, `_` and `-`, at most 64; unique in the request (case-insensitively) |
| clearing_protocol* | a protocol of the catalogue (value or label; retired ones too) |
| antibody1, antibody2 | at most 100 |
| clearing_spreadsheet_link | an http(s) address, at most 512 |
| clearing_completed_date | YYYY-MM-DD, not in the future (default: the submitted date) |
| image_resolution | one of the resolutions; empty = no imaging record for this sample |
| channels | with a resolution: wavelengths of its microscope, separated by `;` |
| imaging_date | YYYY-MM-DD, not in the future |
| imaging_path | where the raw data is: an absolute path, at most 512, no `..` |
| imaging_notes | at most 1000 |

What is written: the request (`is_archival` = 1, `requested_by` = the owner), its samples, one complete
clearing batch per protocol, antibodies, spreadsheet link and completion date, and for imaged samples one
complete imaging request with its resolutions and channels (the imaging paths and notes go to the imaging
notes, which the imaging log shows). No folders, processing requests or emails. Each request gets a
`request.archival_imported` event and the import one `admin.archival_imported` event.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas
from lightserv.requests.submission import REQUEST_NAME_RE, SAMPLE_NAME_RE, USERNAME_RE
from schemas.enums import (
    CHANNELS_OF_MICROSCOPE,
    IMAGE_RESOLUTION,
    MICROSCOPE_OF_RESOLUTION,
    RETENTION_PREFERENCE,
    RETENTION_PREFERENCE_LABELS,
    SPECIES,
)

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


class ImportFailed(Exception):
    """The import could not be written (nothing was)."""


# --- reading ------------------------------------------------------------------------------------------


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


# --- validating ---------------------------------------------------------------------------------------


def _date(value: str, today: dt.date) -> tuple[dt.date | None, str]:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None, f"“{value[:40]}” is not a date; write it as YYYY-MM-DD (e.g. 2019-03-04)."
    if len(value) != 10:
        return None, f"“{value[:40]}” is not a date; write it as YYYY-MM-DD (e.g. 2019-03-04)."
    if day > today:
        return None, f"{day.isoformat()} is in the future."
    if day < EARLIEST:
        return None, f"{day.isoformat()} is before {EARLIEST.year}; check the year."
    return day, ""


def _choice(value: str, choices: dict[str, str]) -> str | None:
    """The stored value for `value` given as a value or a label (case and spacing ignored)."""
    key = "_".join(value.lower().replace("-", " ").split())
    return choices.get(key)


def _keyed(values: dict[str, str]) -> dict[str, str]:
    out = {}
    for stored, label in values.items():
        out["_".join(stored.lower().split())] = stored
        out["_".join(label.lower().replace("-", " ").split())] = stored
    return out


@dataclass
class _Context:
    today: dt.date
    users: dict[str, str]  # username -> email
    existing: set[tuple[str, str]]  # (owner, request name lower) already in the database
    protocols: dict[str, str]  # value/label key -> protocol
    email_domain: str


def _load_context(rows: list[tuple[int, dict[str, str]]]) -> _Context:
    ls = get_schemas().lightsheet
    owners = sorted({r["owner"] for _, r in rows if USERNAME_RE.fullmatch(r["owner"])})
    users, existing = {}, set()
    if owners:
        users = {u["username"]: u["email"] for u in (ls.User & [{"username": o} for o in owners]).to_dicts()}
        existing = {(q["username"], q["request_name"].lower())
                    for q in (ls.Request & [{"username": o} for o in owners]).proj().to_dicts()}  # fmt: skip
    protocols = {p["protocol"]: p["label"] for p in ls.ClearingProtocol().to_dicts()}
    settings = current_app.config["SETTINGS"]
    today = dt.datetime.now(ZoneInfo(settings.display_timezone)).date()
    return _Context(today, users, existing, _keyed(protocols), settings.email_domain)


def validate(rows: list[tuple[int, dict[str, str]]]) -> Plan:
    """Every problem of every row (checking goes on after the first); the plan when there are none."""
    ctx = _load_context(rows)
    errors: list[RowError] = []
    preferences = _keyed(dict(RETENTION_PREFERENCE_LABELS))
    requests: dict[tuple[str, str], PlannedRequest] = {}
    request_first: dict[tuple[str, str], tuple[int, str]] = {}  # first row and spelling of each request
    given: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}  # request column -> (row, value) that gave it
    sample_first: dict[tuple[str, str, str], tuple[int, str, dict[str, str]]] = {}
    samples: dict[tuple[str, str, str], PlannedSample] = {}

    def err(line: int, column: str, message: str) -> None:
        errors.append(RowError(line, column, message))

    for line, row in rows:
        before = len(errors)
        owner, name, sample_name = row["owner"], row["request_name"], row["sample_name"]
        rkey, skey = (owner, name.lower()), (owner, name.lower(), sample_name.lower())
        first_of_request, first_of_sample = rkey not in request_first, skey not in sample_first
        required = ["owner", "request_name", "sample_name"]
        required += ["submitted_date", "species"] if first_of_request else []
        required += ["clearing_protocol"] if first_of_sample else []
        for column in required:
            if not row[column]:
                err(line, column, "Required." if column in ("owner", "request_name", "sample_name") or first_of_request
                    and column in REQUEST_COLUMNS else "Required on the first row of each sample.")  # fmt: skip
        for column, limit in LIMITS.items():
            if len(row[column]) > limit:
                err(line, column, f"At most {limit} characters (this has {len(row[column])}).")
        for column in COLUMNS:
            if any(ord(c) < 32 and c != "\t" for c in row[column]):
                err(line, column, "Contains control characters (line breaks are not allowed in a cell).")
        if owner and not USERNAME_RE.fullmatch(owner):
            err(line, "owner", "Not a username (lower-case letters, digits, . _ -, at most 32).")
        elif owner and owner not in ctx.users:
            err(line, "owner", f"No user “{owner}”; create the account on Users & roles first.")
        if name and (len(name) > 64 or not REQUEST_NAME_RE.fullmatch(name)):
            err(line, "request_name", "Use letters, digits and underscores only, at most 64.")
        elif owner and name and first_of_request and rkey in ctx.existing:
            err(line, "request_name", f"{owner} already has a request named “{name}”.")
        if sample_name and (len(sample_name) > 64 or not SAMPLE_NAME_RE.fullmatch(sample_name)):
            err(line, "sample_name", "Use letters, digits, underscores and hyphens only, at most 64.")

        # request columns: the request's first row gives them; its later rows repeat them or leave them empty
        if first_of_request:
            request_first[rkey] = (line, name)
            given[rkey] = {c: (line, row[c]) for c in REQUEST_COLUMNS[2:] if row[c]}
        else:
            first_line, spelled = request_first[rkey]
            if name != spelled:
                err(line, "request_name", f"Spelled “{spelled}” in row {first_line}; write it the same way.")
            for column in REQUEST_COLUMNS[2:]:
                earlier = given[rkey].get(column)
                if row[column] and (earlier is None or earlier[1].lower() != row[column].lower()):
                    was = f"“{earlier[1][:40]}”" if earlier else "empty"
                    err(line, column, f"Differs from row {first_line}, the first of this request ({was}); "
                                      "leave it empty or repeat it.")  # fmt: skip
        values = {c: v for c, (_, v) in given[rkey].items()}
        submitted_on = species = email = None
        preference: str | None = "not_sure"
        if first_of_request:
            if values.get("submitted_date"):
                submitted_on, problem = _date(values["submitted_date"], ctx.today)
                if problem:
                    err(line, "submitted_date", problem)
            if values.get("species"):
                species = values["species"].lower() if values["species"].lower() in SPECIES else None
                if species is None:
                    err(line, "species", f"Not a species; use one of {', '.join(SPECIES)}.")
            if values.get("raw_data_retention_preference"):
                preference = _choice(values["raw_data_retention_preference"], preferences)
                if preference is None:
                    err(line, "raw_data_retention_preference", "Use one of: " + ", ".join(
                        RETENTION_PREFERENCE_LABELS[p].lower() for p in RETENTION_PREFERENCE) + ".")  # fmt: skip
            email = values.get("correspondence_email", "")
            if email and not EMAIL_RE.fullmatch(email):
                err(line, "correspondence_email", "Not an email address.")

        # sample columns: a sample's first row gives them; its later rows repeat them or leave them empty
        protocol = _choice(row["clearing_protocol"], ctx.protocols) if row["clearing_protocol"] else None
        if row["clearing_protocol"] and protocol is None:
            err(line, "clearing_protocol", f"“{row['clearing_protocol'][:40]}” is not a clearing protocol of the "
                                           "catalogue.")  # fmt: skip
        link = row["clearing_spreadsheet_link"]
        if link and not URL_RE.fullmatch(link):
            err(line, "clearing_spreadsheet_link", "Give a web address starting with https:// (or http://).")
        cleared_on = None
        if row["clearing_completed_date"]:
            cleared_on, problem = _date(row["clearing_completed_date"], ctx.today)
            if problem:
                err(line, "clearing_completed_date", problem)
        if first_of_sample:
            sample_first[skey] = (line, sample_name, {c: row[c] for c in SAMPLE_COLUMNS[1:]})
        else:
            first_line, spelled, earlier_values = sample_first[skey]
            if sample_name != spelled:
                err(line, "sample_name", f"Spelled “{spelled}” in row {first_line}; write it the same way.")
            for column in SAMPLE_COLUMNS[1:]:
                if row[column] and row[column].lower() != earlier_values[column].lower():
                    err(line, column, f"Differs from row {first_line}, the first of this sample; leave it empty or "
                                      "repeat it.")  # fmt: skip

        # imaging columns
        resolution = row["image_resolution"].lower()
        imaging = None
        if resolution:
            if resolution not in IMAGE_RESOLUTION:
                err(line, "image_resolution", f"Not a resolution; use one of {', '.join(IMAGE_RESOLUTION)}.")
            else:
                allowed = CHANNELS_OF_MICROSCOPE[MICROSCOPE_OF_RESOLUTION[resolution]]
                channels = [c.strip().removesuffix("nm").strip() for c in re.split(r"[;|/ ]+", row["channels"])
                            if c.strip()]  # fmt: skip
                if not channels:
                    err(line, "channels", f"Name the imaged wavelengths, e.g. {';'.join(allowed[:2])}.")
                bad = [c for c in channels if c not in allowed]
                if bad:
                    err(line, "channels", f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not imaged at "
                                          f"{resolution}; the wavelengths are {', '.join(allowed)}.")  # fmt: skip
                repeated = sorted({c for c in channels if channels.count(c) > 1})
                if repeated:
                    err(line, "channels", f"{', '.join(repeated)} named twice.")
                imaged_on = None
                if row["imaging_date"]:
                    imaged_on, problem = _date(row["imaging_date"], ctx.today)
                    if problem:
                        err(line, "imaging_date", problem)
                path = row["imaging_path"]
                if path and (not path.startswith("/") or ".." in path.split("/")):
                    err(line, "imaging_path", "Give the absolute path of the raw data (starting with /, without ..).")
                imaging = PlannedImaging(line, resolution, channels, imaged_on, path, row["imaging_notes"])
                known_imaging = samples[skey].imaging if skey in samples else []
                earlier_res = next((i for i in known_imaging if i.image_resolution == resolution), None)
                if earlier_res is not None:
                    err(line, "image_resolution", f"{resolution} of this sample is already in row {earlier_res.line}.")
        else:
            for column in ("channels", "imaging_date", "imaging_path", "imaging_notes"):
                if row[column]:
                    err(line, column, "Give image_resolution for imaging details (or leave them empty).")
            if not first_of_sample:
                err(line, "image_resolution", f"The sample is already in row {sample_first[skey][0]}; a further row "
                                              "of a sample names another resolution.")  # fmt: skip

        if len(errors) > before:
            continue
        request = requests.get(rkey)
        if request is None:
            if not first_of_request:
                continue  # its first row has problems (reported there)
            request = PlannedRequest(
                line=line, owner=owner, request_name=name, submitted_on=submitted_on or ctx.today,
                species=species or "mouse", labname=values.get("labname", ""),
                description=values.get("description") or DEFAULT_DESCRIPTION,
                correspondence_email=(email or ctx.users.get(owner) or f"{owner}@{ctx.email_domain}").lower(),
                preference=preference or "not_sure",
            )  # fmt: skip
            requests[rkey] = request
        request.lines.append(line)
        sample = samples.get(skey)
        if sample is None:
            if not first_of_sample:
                continue  # its first row has problems (reported there)
            if len(request.samples) >= MAX_SAMPLES:
                err(line, "sample_name", f"A request holds at most {MAX_SAMPLES} samples.")
                continue
            sample = PlannedSample(line, sample_name, protocol or "", row["antibody1"], row["antibody2"],
                                   link or None, cleared_on)  # fmt: skip
            samples[skey] = sample
            request.samples.append(sample)
        if imaging is not None:
            sample.imaging.append(imaging)
    planned = [r for r in requests.values() if r.samples]
    for request in planned:
        _number_batches(request)
    order = {c: i for i, c in enumerate(COLUMNS)}
    return Plan(planned, sorted(errors, key=lambda e: (e.line, order.get(e.column, -1))), len(rows))


def _number_batches(request: PlannedRequest) -> None:
    """One clearing batch per protocol, antibody pair, spreadsheet link and completion date, numbered in
    order of first appearance."""
    numbers: dict[tuple, int] = {}
    for s in request.samples:
        key = (s.protocol, s.antibody1.lower(), s.antibody2.lower(), s.spreadsheet_link, s.cleared_on)
        s.clearing_batch = numbers.setdefault(key, len(numbers) + 1)


def plan_from_bytes(data: bytes) -> Plan:
    text, problem = decode(data)
    if problem is not None:
        return Plan([], [problem])
    return plan_from_text(text or "")


def plan_from_text(text: str) -> Plan:
    rows, errors = read_rows(text)
    if errors:
        return Plan([], errors, len(rows))
    return validate(rows)


# --- writing ------------------------------------------------------------------------------------------


def _noon_utc(day: dt.date, tz: str) -> dt.datetime:
    """A facility-local date as a stored UTC time (noon, so the date reads the same everywhere)."""
    local = dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(tz))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def import_plan(plan: Plan, actor: str, source: str) -> list[tuple[str, str]]:
    """Write every planned request in one transaction (with its events); returns the (owner, name) keys."""
    if not plan.ok:
        raise ImportFailed("The file has problems; nothing was imported.")
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    tz = current_app.config["SETTINGS"].display_timezone
    now = utcnow()
    keys = []
    with conn.transaction:
        for req in plan.requests:
            key = {"username": req.owner, "request_name": req.request_name}
            submitted_at = _noon_utc(req.submitted_on, tz)
            ls.Request.insert1(dict(
                **key, requested_by=req.owner, submitted_at=submitted_at, labname=req.labname,
                correspondence_email=req.correspondence_email, description=req.description, species=req.species,
                number_of_samples=len(req.samples), raw_data_retention_preference=req.preference, testing=0,
                is_archival=1, self_clearing=0, self_imaging=0, form_version="archival",
            ))  # fmt: skip
            ls.Request.Sample.insert([dict(**key, sample_name=s.sample_name, subject_fullname=None, perfusion_date=None,
                                           expected_handoff_date=None, notes_for_clearer="")
                                      for s in req.samples])  # fmt: skip
            batches: dict[int, list[PlannedSample]] = {}
            for s in req.samples:
                batches.setdefault(s.clearing_batch, []).append(s)
            ls.Request.ClearingBatch.insert([
                dict(**key, clearing_batch_number=number, protocol=members[0].protocol, antibody1=members[0].antibody1,
                     antibody2=members[0].antibody2, antibody1_lot=None, antibody2_lot=None,
                     clearing_progress="complete", number_in_batch=len(members), clearer=None, claimed_at=None,
                     started_at=None, completed_at=_noon_utc(members[0].cleared_on or req.submitted_on, tz),
                     exp_notes="", clearing_notes="", link_to_clearing_spreadsheet=members[0].spreadsheet_link)
                for number, members in batches.items()
            ])  # fmt: skip
            ls.Request.ClearingBatchSample.insert(
                [dict(**key, sample_name=s.sample_name, clearing_batch_number=s.clearing_batch) for s in req.samples]
            )
            for s in req.samples:
                if s.imaging:
                    _insert_imaging(ls, key, req, s, submitted_at, tz)
            record_event(
                "request.archival_imported",
                "request",
                key,
                f"Archival request {req.owner}/{req.request_name} imported ({len(req.samples)} samples)",
                request_key=(req.owner, req.request_name),
                after={
                    "is_archival": True,
                    "source": source,
                    "csv_lines": req.lines,
                    "samples": [_sample_document(s) for s in req.samples],
                },  # fmt: skip
                actor=actor,
                dj_conn=conn,
            )
            keys.append((req.owner, req.request_name))
        record_event(
            "admin.archival_imported",
            "archival_import",
            {"source": source, "at": now.isoformat()},
            f"Archival import of {source}: {len(keys)} requests, {plan.samples} samples",
            after={"requests": [f"{o}/{n}" for o, n in keys], "rows": plan.rows},
            actor=actor,
            dj_conn=conn,
        )
    return keys


def _insert_imaging(ls, key: dict, req: PlannedRequest, s: PlannedSample, submitted_at: dt.datetime, tz: str) -> None:
    ikey = {**key, "sample_name": s.sample_name, "imaging_request_number": 1}
    dates = [i.imaging_date for i in s.imaging if i.imaging_date]
    notes = [f"{i.image_resolution} raw data (archival): {i.imaging_path}" for i in s.imaging if i.imaging_path]
    notes += [f"{i.image_resolution}: {i.notes}" for i in s.imaging if i.notes]
    ls.Request.ImagingRequest.insert1(dict(
        **ikey, requested_by=req.owner, submitted_at=submitted_at, imager=None, self_imaging=0,
        imaging_progress="complete", imaging_performed_date=max(dates) if dates else None, skip_reason="",
        notes_from_imaging="\n".join(notes)[:2048], validation_status="none", validation_messages=None,
    ))  # fmt: skip
    ls.Request.ImagingResolutionRequest.insert([
        dict(**ikey, image_resolution=i.image_resolution, microscope=MICROSCOPE_OF_RESOLUTION[i.image_resolution],
             notes_for_imager="")
        for i in s.imaging
    ])  # fmt: skip
    ls.Request.ImagingChannel.insert([
        dict(**ikey, image_resolution=i.image_resolution, channel_name=c, ventral_up=0, registration=0,
             injection_detection=0, probe_detection=0, cell_detection=0, generic_imaging=1, added_during_imaging=0,
             imaging_date=i.imaging_date, zoom_body_magnification=1.0 if i.image_resolution == "2x" else None,
             image_orientation="horizontal", left_lightsheet_used=1, right_lightsheet_used=1, tiling_scheme="1x1",
             tiling_overlap=0, z_step=10, number_of_z_planes=None, rawdata_subfolder=None,
             imspector_channel_index=None, numerical_aperture=None, pixel_type=None)
        for i in s.imaging
        for c in i.channels
    ])  # fmt: skip


def _sample_document(s: PlannedSample) -> dict:
    return {
        "sample_name": s.sample_name,
        "clearing_batch": s.clearing_batch,
        "protocol": s.protocol,
        "spreadsheet_link": s.spreadsheet_link,
        "imaging": [
            {"resolution": i.image_resolution, "channels": i.channels, "path": i.imaging_path} for i in s.imaging
        ],  # fmt: skip
    }


def template_rows() -> list[list[str]]:
    return [list(COLUMNS), [EXAMPLE[c] for c in COLUMNS]]
