"""No CSV the product serves lets a spreadsheet run text a user typed as a formula.

A formula is planted in every free-text field of a request, its samples, batches, imaging and processing
requests, the antibody history and the event log; then every CSV route is downloaded and no cell may
start with = + - @ tab or carriage return. The CSV routes are read from the app's URL map (every rule
ending in ".csv") and their URLs from the permission matrix, so a new CSV route is covered as soon as it
exists. Every CSV is written by one helper (lightserv.common.csvexport); no other module writes CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest

from tests.factories import channel, new_request, resolution, sample, submit
from tests.matrix import all_rows

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
OWNER, NAME = "ana", "brains"
#: both views of the retention report (the matrix row names one)
VARIANTS = {
    "admin.retention_csv": [
        "/admin/retention.csv?view=raw&age=0&testing=1",
        "/admin/retention.csv?view=superseded&show=all",
    ],
}
CHOOSE_TABLE = re.compile(r"Choose a table: ([a-z_, ]+)\.")


#: the character a planted value starts with, when not `=` (tab and CR only where nothing strips them)
STARTS = {"description": "-", "failure_summary": "+", "brief_descriptor": "@", "step_notes": "\t", "notes": "\r"}


def formula(field: str) -> str:
    return f'{STARTS.get(field, "=")}HYPERLINK("//e.x/{field}")'


#: every free-text column a user (or staff) types, by DataJoint table
FREE_TEXT = {
    "Request": ("description", "labname"),
    "Request.Sample": ("notes_for_clearer", "subject_fullname"),
    "Request.ClearingBatch": ("antibody1_lot", "antibody2_lot", "exp_notes", "clearing_notes"),
    "Request.ImagingRequest": ("skip_reason", "notes_from_imaging"),
    "Request.ImagingResolutionRequest": ("notes_for_imager",),
    "Request.ProcessingRequest": ("notes_from_processing", "failure_summary"),
    "Request.ProcessingResolutionRequest": ("notes_for_processor",),
    "AntibodyHistory": (
        "brief_descriptor", "animal_model", "primary_antibody", "primary_concentration", "secondary_antibody",
        "secondary_concentration", "primary_order_info", "secondary_order_info", "primary_lot", "secondary_lot",
        "notes",
    ),  # fmt: skip
    "AntibodyOverview": ("brief_descriptor", "animal_model", "primary_antibody", "secondary_antibody", "notes"),
    "User": ("full_name",),
}
#: planted values a CSV shows today (each must be found, neutralised, in at least one download)
SHOWN = {
    "description", "sample_name", "antibody1", "antibody2", "step_notes", "failure_summary", "event_summary",
    "brief_descriptor", "animal_model", "primary_antibody", "notes", "primary_lot", "primary_order_info",
}  # fmt: skip


def _table(ls, path: str):
    table = ls
    for part in path.split("."):
        table = getattr(table, part)
    return table


@pytest.fixture
def planted(app, make_user):
    """ana/brains with a formula in every free-text field, its processing request failed, a clearing step
    with notes, an antibody overview row, and an event whose summary is a formula."""
    from lightserv.common.audit import record_event, utcnow
    from lightserv.db import get_schemas
    from lightserv.extensions import db

    make_user(OWNER)
    res = resolution("1.3x", channel("488", "registration"), notes_for_imager=formula("notes_for_imager"),
                     notes_for_processor=formula("notes_for_processor"))  # fmt: skip
    brain = sample("-s1", res, protocol="idisco_plus_immuno", antibody1=formula("antibody1"),
                   antibody2=formula("antibody2"), notes_for_clearer=formula("notes_for_clearer"))  # fmt: skip
    submit(app, new_request(OWNER, NAME, samples=[brain], description=formula("description"),
                            labname=formula("labname")))  # fmt: skip
    with app.test_request_context():
        schemas = get_schemas()
        ls = schemas.lightsheet
        key = {"username": OWNER, "request_name": NAME}
        for path, columns in FREE_TEXT.items():
            table = _table(ls, path)
            rows = (table & key).keys() if path not in ("AntibodyHistory", "AntibodyOverview", "User") else None
            if path == "User":
                rows = (table & {"username": OWNER}).keys()
            elif path == "AntibodyHistory":
                rows = table.keys()
            elif path == "AntibodyOverview":
                table.insert1(dict(brief_descriptor="x", animal_model="x", primary_antibody="x",
                                   secondary_antibody="x", primary_concentration="1", secondary_concentration="1",
                                   updated_by=OWNER, updated_at=utcnow()))  # fmt: skip
                rows = table.keys()
            assert rows, f"the world has no {path} row to plant in"
            for row in rows:
                table.update1({**row, **{c: formula(c) for c in columns}})
        for row in (ls.Request.ProcessingRequest & key).keys():
            ls.Request.ProcessingRequest.update1({**row, "processing_progress": "failed"})
        (batch,) = (ls.Request.ClearingBatch & key).keys()
        ls.Request.ClearingStepEntry.insert1(
            {**batch, "step_key": "pbs_wash_1", "step_time": dt.datetime(2030, 1, 2, 9, 0),
             "step_notes": formula("step_notes"), "updated_by": OWNER, "updated_at": utcnow()}
        )  # fmt: skip
        record_event("test.planted", "request", key, formula("event_summary"), request_key=(OWNER, NAME), actor="root")
        db.session.commit()


def csv_endpoints(app) -> list[str]:
    return sorted({rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.endswith(".csv")})


def urls_of(client, endpoint: str) -> list[str]:
    """The matrix row's URL for `endpoint` (with the planted request), every table of a queue, every
    figure of the dashboard, every view of the retention report."""
    from lightserv.admin.queries.dashboard import FIGURES

    if endpoint in VARIANTS:
        return VARIANTS[endpoint]
    if endpoint == "admin.dashboard_csv":
        return [f"/admin/dashboard/{name}.csv" for name in FIGURES]
    url = all_rows()[endpoint][1].format(owner=OWNER, request=NAME)
    if "table=" not in url:
        return [url]
    base = url.split("?", 1)[0]
    refusal = client.get(base + "?table=")
    assert refusal.status_code == 400
    (names,) = CHOOSE_TABLE.findall(refusal.get_data(as_text=True))
    return [f"{base}?table={name}" for name in names.split(", ")]


def cells(resp) -> list[str]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv", (resp.status_code, resp.mimetype)
    return [c for row in csv.reader(io.StringIO(resp.get_data(as_text=True))) for c in row]


def test_no_csv_cell_starts_a_formula(app, client, login_as, planted):
    login_as("admin", "root")
    endpoints = csv_endpoints(app)
    assert {"clearing.antibody_history_csv", "clearing.batch_log_csv", "admin.event_log_csv"} <= set(endpoints)
    seen: set[str] = set()
    problems = []
    for endpoint in endpoints:
        for url in urls_of(client, endpoint):
            for value in cells(client.get(url)):
                if value.startswith(DANGEROUS):
                    problems.append(f"{url}: {value[:60]!r}")
                seen.update(re.findall(r"^'[=+\-@\t\r]HYPERLINK\(\"//e\.x/(\w+)\"\)$", value))
                if value == "'-s1":
                    seen.add("sample_name")
    assert not problems, "cells a spreadsheet would run:\n" + "\n".join(problems)
    assert SHOWN <= seen, f"planted values no CSV showed (the test no longer reaches them): {SHOWN - seen}"


def test_every_csv_is_written_by_the_one_helper():
    """No module but lightserv.common.csvexport writes CSV or sets the text/csv type."""
    root = Path(__file__).resolve().parents[2] / "lightserv"
    writers = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "csvexport.py" and re.search(r"csv\.(writer|DictWriter)\(|text/csv", p.read_text())
    )
    assert writers == [], f"CSV written outside lightserv.common.csvexport: {writers}"
