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


