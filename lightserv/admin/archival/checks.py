"""Checking every row of an archival CSV against the rules of lightserv.admin.archival before anything is
written; the result is a Plan with every problem, or the requests to write."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app

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

from .plan import (
    COLUMNS,
    DEFAULT_DESCRIPTION,
    EARLIEST,
    EMAIL_RE,
    LIMITS,
    MAX_SAMPLES,
    REQUEST_COLUMNS,
    SAMPLE_COLUMNS,
    URL_RE,
    Plan,
    PlannedImaging,
    PlannedRequest,
    PlannedSample,
    RowError,
    decode,
    read_rows,
)


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


#: columns every row needs, those the first row of a request needs, and those the first row of a sample needs
_ALWAYS_REQUIRED = ("owner", "request_name", "sample_name")
_REQUEST_REQUIRED = ("submitted_date", "species")
_SAMPLE_REQUIRED = ("clearing_protocol",)
_IMAGING_DETAILS = ("channels", "imaging_date", "imaging_path", "imaging_notes")


@dataclass(frozen=True)
class _Row:
    """One CSV row, the request and sample it belongs to, and whether it is the first row of either."""

    line: int
    cells: dict[str, str]
    rkey: tuple[str, str]  # (owner, request name lower)
    skey: tuple[str, str, str]  # (owner, request name lower, sample name lower)
    first_of_request: bool
    first_of_sample: bool


class _Checker:
    """Checks rows in file order, remembering what the first row of each request and sample gave, and
    gathers the requests of the rows without problems."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.errors: list[RowError] = []
        self.preferences = _keyed(dict(RETENTION_PREFERENCE_LABELS))
        self.requests: dict[tuple[str, str], PlannedRequest] = {}
        self.samples: dict[tuple[str, str, str], PlannedSample] = {}
        self.request_first: dict[tuple[str, str], tuple[int, str]] = {}  # first row and spelling of each request
        self.given: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}  # request column -> (row, value) giving it
        self.sample_first: dict[tuple[str, str, str], tuple[int, str, dict[str, str]]] = {}

    def err(self, line: int, column: str, message: str) -> None:
        self.errors.append(RowError(line, column, message))

    def check(self, line: int, cells: dict[str, str]) -> None:
        """Report every problem of the row; plan it when it has none."""
        owner, name, sample_name = cells["owner"], cells["request_name"], cells["sample_name"]
        rkey, skey = (owner, name.lower()), (owner, name.lower(), sample_name.lower())
        row = _Row(line, cells, rkey, skey, rkey not in self.request_first, skey not in self.sample_first)
        before = len(self.errors)
        self._check_cells(row)
        self._check_names(row)
        values = self._request_values(row)
        request = self._planned_request(row, values) if row.first_of_request else None
        sample = self._planned_sample(row)
        imaging = self._planned_imaging(row)
        if len(self.errors) == before:
            self._add(row, request, sample, imaging)

    def _check_cells(self, row: _Row) -> None:
        """Required cells are given, and no cell is too long or holds control characters."""
        required = [(c, "Required.") for c in _ALWAYS_REQUIRED]
        required += [(c, "Required.") for c in _REQUEST_REQUIRED] if row.first_of_request else []
        message = "Required on the first row of each sample."
        required += [(c, message) for c in _SAMPLE_REQUIRED] if row.first_of_sample else []
        for column, message in required:
            if not row.cells[column]:
                self.err(row.line, column, message)
        for column, limit in LIMITS.items():
            if len(row.cells[column]) > limit:
                self.err(row.line, column, f"At most {limit} characters (this has {len(row.cells[column])}).")
        for column in COLUMNS:
            if any(ord(c) < 32 and c != "\t" for c in row.cells[column]):
                self.err(row.line, column, "Contains control characters (line breaks are not allowed in a cell).")

    def _check_names(self, row: _Row) -> None:
        """The owner exists, the request name is new for them, and both names are well formed."""
        owner, name, sample_name = row.cells["owner"], row.cells["request_name"], row.cells["sample_name"]
        if owner and not USERNAME_RE.fullmatch(owner):
            self.err(row.line, "owner", "Not a username (lower-case letters, digits, . _ -, at most 32).")
        elif owner and owner not in self.ctx.users:
            self.err(row.line, "owner", f"No user “{owner}”; create the account on Users & roles first.")
        if name and (len(name) > 64 or not REQUEST_NAME_RE.fullmatch(name)):
            self.err(row.line, "request_name", "Use letters, digits and underscores only, at most 64.")
        elif owner and name and row.first_of_request and row.rkey in self.ctx.existing:
            self.err(row.line, "request_name", f"{owner} already has a request named “{name}”.")
        if sample_name and (len(sample_name) > 64 or not SAMPLE_NAME_RE.fullmatch(sample_name)):
            self.err(row.line, "sample_name", "Use letters, digits, underscores and hyphens only, at most 64.")

    def _same_spelling(self, row: _Row, column: str, first_line: int, spelled: str) -> None:
        if row.cells[column] != spelled:
            self.err(row.line, column, f"Spelled “{spelled}” in row {first_line}; write it the same way.")

    def _request_values(self, row: _Row) -> dict[str, str]:
        """The request columns as its first row gave them; its later rows repeat them or leave them empty."""
        if row.first_of_request:
            self.request_first[row.rkey] = (row.line, row.cells["request_name"])
            self.given[row.rkey] = {c: (row.line, row.cells[c]) for c in REQUEST_COLUMNS[2:] if row.cells[c]}
        else:
            first_line, spelled = self.request_first[row.rkey]
            self._same_spelling(row, "request_name", first_line, spelled)
            for column in REQUEST_COLUMNS[2:]:
                earlier = self.given[row.rkey].get(column)
                if row.cells[column] and (earlier is None or earlier[1].lower() != row.cells[column].lower()):
                    was = f"“{earlier[1][:40]}”" if earlier else "empty"
                    self.err(row.line, column, f"Differs from row {first_line}, the first of this request ({was}); "
                                               "leave it empty or repeat it.")  # fmt: skip
        return {c: v for c, (_, v) in self.given[row.rkey].items()}

    def _planned_request(self, row: _Row, values: dict[str, str]) -> PlannedRequest:
        """The request its first row describes (with defaults for what it leaves empty)."""
        submitted_on = species = None
        preference: str | None = "not_sure"
        if values.get("submitted_date"):
            submitted_on, problem = _date(values["submitted_date"], self.ctx.today)
            if problem:
                self.err(row.line, "submitted_date", problem)
        if values.get("species"):
            species = values["species"].lower() if values["species"].lower() in SPECIES else None
            if species is None:
                self.err(row.line, "species", f"Not a species; use one of {', '.join(SPECIES)}.")
        if values.get("raw_data_retention_preference"):
            preference = _choice(values["raw_data_retention_preference"], self.preferences)
            if preference is None:
                self.err(row.line, "raw_data_retention_preference", "Use one of: " + ", ".join(
                    RETENTION_PREFERENCE_LABELS[p].lower() for p in RETENTION_PREFERENCE) + ".")  # fmt: skip
        email = values.get("correspondence_email", "")
        if email and not EMAIL_RE.fullmatch(email):
            self.err(row.line, "correspondence_email", "Not an email address.")
        owner = row.cells["owner"]
        return PlannedRequest(
            line=row.line, owner=owner, request_name=row.cells["request_name"],
            submitted_on=submitted_on or self.ctx.today, species=species or "mouse",
            labname=values.get("labname", ""), description=values.get("description") or DEFAULT_DESCRIPTION,
            correspondence_email=(email or self.ctx.users.get(owner) or f"{owner}@{self.ctx.email_domain}").lower(),
            preference=preference or "not_sure",
        )  # fmt: skip

    def _planned_sample(self, row: _Row) -> PlannedSample:
        """The sample its row describes; a sample's later rows repeat its columns or leave them empty."""
        cells, line = row.cells, row.line
        protocol = _choice(cells["clearing_protocol"], self.ctx.protocols) if cells["clearing_protocol"] else None
        if cells["clearing_protocol"] and protocol is None:
            self.err(line, "clearing_protocol", f"“{cells['clearing_protocol'][:40]}” is not a clearing protocol of "
                                                "the catalogue.")  # fmt: skip
        link = cells["clearing_spreadsheet_link"]
        if link and not URL_RE.fullmatch(link):
            self.err(line, "clearing_spreadsheet_link", "Give a web address starting with https:// (or http://).")
        cleared_on = self._optional_date(row, "clearing_completed_date")
        if row.first_of_sample:
            self.sample_first[row.skey] = (line, cells["sample_name"], {c: cells[c] for c in SAMPLE_COLUMNS[1:]})
        else:
            first_line, spelled, earlier_values = self.sample_first[row.skey]
            self._same_spelling(row, "sample_name", first_line, spelled)
            for column in SAMPLE_COLUMNS[1:]:
                if cells[column] and cells[column].lower() != earlier_values[column].lower():
                    self.err(line, column, f"Differs from row {first_line}, the first of this sample; leave it "
                                           "empty or repeat it.")  # fmt: skip
        return PlannedSample(line, cells["sample_name"], protocol or "", cells["antibody1"], cells["antibody2"],
                             link or None, cleared_on)  # fmt: skip

    def _optional_date(self, row: _Row, column: str) -> dt.date | None:
        if not row.cells[column]:
            return None
        day, problem = _date(row.cells[column], self.ctx.today)
        if problem:
            self.err(row.line, column, problem)
        return day

    def _planned_imaging(self, row: _Row) -> PlannedImaging | None:
        """The imaging record of the row's resolution, or None when the row names none."""
        cells, line = row.cells, row.line
        resolution = cells["image_resolution"].lower()
        if not resolution:
            for column in _IMAGING_DETAILS:
                if cells[column]:
                    self.err(line, column, "Give image_resolution for imaging details (or leave them empty).")
            if not row.first_of_sample:
                self.err(line, "image_resolution", f"The sample is already in row {self.sample_first[row.skey][0]}; "
                                                   "a further row of a sample names another resolution.")  # fmt: skip
            return None
        if resolution not in IMAGE_RESOLUTION:
            self.err(line, "image_resolution", f"Not a resolution; use one of {', '.join(IMAGE_RESOLUTION)}.")
            return None
        channels = self._channels(row, resolution)
        imaged_on = self._optional_date(row, "imaging_date")
        path = cells["imaging_path"]
        if path and (not path.startswith("/") or ".." in path.split("/")):
            self.err(line, "imaging_path", "Give the absolute path of the raw data (starting with /, without ..).")
        known_imaging = self.samples[row.skey].imaging if row.skey in self.samples else []
        earlier = next((i for i in known_imaging if i.image_resolution == resolution), None)
        if earlier is not None:
            self.err(line, "image_resolution", f"{resolution} of this sample is already in row {earlier.line}.")
        return PlannedImaging(line, resolution, channels, imaged_on, path, cells["imaging_notes"])

    def _channels(self, row: _Row, resolution: str) -> list[str]:
        """The wavelengths named: at least one, each imaged at the resolution, none twice."""
        allowed = CHANNELS_OF_MICROSCOPE[MICROSCOPE_OF_RESOLUTION[resolution]]
        channels = [c.strip().removesuffix("nm").strip() for c in re.split(r"[;|/ ]+", row.cells["channels"])
                    if c.strip()]  # fmt: skip
        if not channels:
            self.err(row.line, "channels", f"Name the imaged wavelengths, e.g. {';'.join(allowed[:2])}.")
        bad = [c for c in channels if c not in allowed]
        if bad:
            self.err(row.line, "channels", f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not imaged at "
                                           f"{resolution}; the wavelengths are {', '.join(allowed)}.")  # fmt: skip
        repeated = sorted({c for c in channels if channels.count(c) > 1})
        if repeated:
            self.err(row.line, "channels", f"{', '.join(repeated)} named twice.")
        return channels

    def _add(
        self, row: _Row, request: PlannedRequest | None, sample: PlannedSample, imaging: PlannedImaging | None
    ) -> None:
        """Add a row without problems to its request and sample; a later row whose request or sample had
        problems on its first row is left out (they were reported there)."""
        planned = self.requests.get(row.rkey)
        if planned is None:
            if request is None:
                return
            planned = self.requests[row.rkey] = request
        planned.lines.append(row.line)
        kept = self.samples.get(row.skey)
        if kept is None:
            if not row.first_of_sample:
                return
            if len(planned.samples) >= MAX_SAMPLES:
                self.err(row.line, "sample_name", f"A request holds at most {MAX_SAMPLES} samples.")
                return
            kept = self.samples[row.skey] = sample
            planned.samples.append(kept)
        if imaging is not None:
            kept.imaging.append(imaging)


def validate(rows: list[tuple[int, dict[str, str]]]) -> Plan:
    """Every problem of every row (checking goes on after the first); the plan when there are none."""
    checker = _Checker(_load_context(rows))
    for line, cells in rows:
        checker.check(line, cells)
    planned = [r for r in checker.requests.values() if r.samples]
    for request in planned:
        _number_batches(request)
    order = {c: i for i, c in enumerate(COLUMNS)}
    return Plan(planned, sorted(checker.errors, key=lambda e: (e.line, order.get(e.column, -1))), len(rows))


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
