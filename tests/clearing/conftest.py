"""Helpers for the clearing tests: real requests built through the submit service, and a reader of the
entry form's inputs so tests post exactly what a browser would."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest

from tests.factories import new_request, sample, submit
from tests.support.auth import login as login  # the tests import it from here
from tests.support.auth import sign_in

RAT_PROTOCOLS = {"idisco_abbreviated_rat", "udisco_rat"}
ALL_PROTOCOLS = (
    "idisco_abbreviated",
    "idisco_abbreviated_rat",
    "idisco_plus_immuno",
    "udisco",
    "udisco_rat",
    "idisco_edu",
    "experimental",
)


class _FormReader(HTMLParser):
    """Collects name -> value of the inputs and textareas inside <form id="entry-form">."""

    def __init__(self):
        super().__init__()
        self.inside = False
        self.fields: dict[str, str] = {}
        self.disabled = False
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == "entry-form":
            self.inside = True
        if not self.inside:
            return
        if tag == "fieldset" and "disabled" in a:
            self.disabled = True
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return  # an unticked checkbox sends nothing
            self.fields[a["name"]] = a.get("value") or ""
        if tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.fields[a["name"]] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        if tag == "form":
            self.inside = False


def read_form(html: str) -> tuple[dict[str, str], bool]:
    """(the entry form's fields as a browser would send them, whether the form is read-only)."""
    reader = _FormReader()
    reader.feed(html)
    fields = dict(reader.fields)
    # a textarea's first newline after the tag is not part of its value (HTML parsing rule)
    for name, value in fields.items():
        if value.startswith("\n"):
            fields[name] = value[1:]
    return fields, reader.disabled


def every_step_timed(fields: dict[str, str], start: str = "2026-03-02T09:00") -> dict[str, str]:
    """The form's fields with a time typed for every step still without one, ten minutes apart in page
    order from `start` (facility time): what completing a batch needs."""
    first = dt.datetime.strptime(start, "%Y-%m-%dT%H:%M")
    names = [n for n in fields if n.startswith("step-") and n.endswith("-time")]
    timed = {n: (first + dt.timedelta(minutes=10 * i)).strftime("%Y-%m-%dT%H:%M") for i, n in enumerate(names)}
    return {**fields, **{n: t for n, t in timed.items() if not fields[n]}}


def batch_url(owner: str, request_name: str, number: int = 1, suffix: str = "") -> str:
    return f"/clearing/batch/{owner}/{request_name}/{number}{suffix}"


@pytest.fixture
def make_request(app):
    """make_request(owner, name, protocol=..., n=1, **request kwargs): submit a real request."""

    def make(owner: str, name: str = "brains", protocol: str = "idisco_abbreviated", n: int = 1, **kw):
        sample_kw = {k: kw.pop(k) for k in ("antibody1", "antibody2", "notes_for_clearer") if k in kw}
        if protocol == "idisco_plus_immuno":
            sample_kw.setdefault("antibody1", "rabbit anti-cFos 1:1000")
            sample_kw.setdefault("antibody2", "donkey anti-rabbit 647 1:500")
        kw.setdefault("species", "rat" if protocol in RAT_PROTOCOLS else "mouse")
        samples = [sample(f"s{i + 1}", protocol=protocol, **sample_kw) for i in range(n)]
        return submit(app, new_request(owner, name, samples=samples, **kw))

    return make


@pytest.fixture
def entry_form(client):
    """entry_form(owner, name, number=1) -> (fields, read_only, html) as the form page shows them."""

    def load(owner: str, name: str, number: int = 1):
        resp = client.get(batch_url(owner, name, number))
        assert resp.status_code == 200, resp.status_code
        html = resp.get_data(as_text=True)
        fields, read_only = read_form(html)
        return fields, read_only, html

    return load


@pytest.fixture
def started(app, make_user, make_request, client, act):
    """started(protocol) -> (owner, clearer): a request whose batch 1 the logged-in clearer has started."""

    def build(protocol: str = "idisco_abbreviated", **kw):
        owner = make_user("ana")
        make_request(owner, "brains", protocol, **kw)
        clearer = make_user("cleo", roles=["clearing_staff"])
        sign_in(client, clearer)
        assert act(batch_url(owner, "brains", 1, "/start")).status_code == 303
        return owner, clearer

    return build


def batch_row(app, owner: str = "ana", name: str = "brains", number: int = 1) -> dict:
    from lightserv.db import get_schemas

    with app.app_context():
        ls = get_schemas().lightsheet
        key = {"username": owner, "request_name": name, "clearing_batch_number": number}
        return (ls.Request.ClearingBatch & key).to_dicts()[0]


def events(app, prefix: str = "clearing.") -> list:
    from lightserv.extensions import db
    from lightserv.models import EventLog

    with app.app_context():
        rows = db.session.scalars(db.select(EventLog).where(EventLog.action.like(prefix + "%")).order_by(EventLog.id))
        return [(r.action, r.actor, r.entity_key, r.before, r.after, r.summary) for r in rows]


@pytest.fixture
def worker(app, smtp):
    """`with worker():` runs a real Celery worker (solo pool). Tasks queued before (e.g. the submission
    emails of the request factory) are purged first, so the SMTP sink sees only what the block causes."""
    from contextlib import contextmanager

    from celery.contrib.testing.worker import start_worker

    celery_app = app.extensions["celery"]

    @contextmanager
    def run():
        celery_app.control.purge()
        smtp.clear()
        with start_worker(celery_app, pool="solo", perform_ping_check=False):
            yield celery_app

    return run


def mail_by_subject(smtp, app, count: int) -> dict:
    """Wait for `count` emails; subject -> (recipients, message)."""
    return {m["Subject"]: (to, m) for to, m in smtp.wait_for(count, app=app)}
