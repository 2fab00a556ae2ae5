"""Plain language and consistency: emails and pages researchers read carry one site address, time zones,
correct plurals, no doubled words and no internal keys; failures are told in words; staff cancels are silent."""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import re

import pytest

from lightserv.extensions import db
from lightserv.models import EmailOutbox
from schemas.catalogue import PROTOCOLS
from tests.factories import new_request, sample, submit
from tests.support.auth import sign_in

DOUBLED = re.compile(r"\b(\w+) \1\b", re.IGNORECASE)
LINK = re.compile(r"https?://[^\s)>\"']+")
#: keys that must never reach a reader: protocol keys, enum values with underscores, layer and role keys
INTERNAL = sorted({*(p.protocol for p in PROTOCOLS if "_" in p.protocol), "blended_ch488", "gench", "regch",
                   "cellch", "lavision_pipeline", "not_started", "in_progress", "layer.ready"})  # fmt: skip


def problems(text: str) -> list[str]:
    found = [f"doubled word {m.group(0)!r}" for m in DOUBLED.finditer(text)]
    found += ["'(s)'"] if "(s)" in text else []
    found += [f"internal key {k!r}" for k in INTERNAL if re.search(rf"(?<![\w/]){re.escape(k)}(?![\w/])", text)]
    return found


def visible_text(page: str) -> str:
    """The words a reader sees: no scripts, styles, tags or attribute values; text of separate elements
    (cells, headings, buttons) stays apart, words in one sentence (links, emphasis) stay together."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"</?(a|strong|em|b|i|code|small|abbr)\b[^>]*>", "", page, flags=re.I)
    page = re.sub(r"<[^>]+>", " ¦ ", page)
    return re.sub(r"\s+", " ", htmlmod.unescape(page))


def all_emails(app) -> list[EmailOutbox]:
    with app.app_context():
        rows = db.session.scalars(db.select(EmailOutbox).order_by(EmailOutbox.id)).all()
        db.session.expunge_all()
        return rows


def test_site_url_defaults_to_the_public_base_url_and_can_be_set(settings_overrides):
    from lightserv.settings import Settings

    assert Settings(**{**settings_overrides, "public_base_url": "http://h:8000/"}).site_url == "http://h:8000"
    assert Settings(**{**settings_overrides, "site_url": "https://ls.example/"}).site_url == "https://ls.example"


def test_every_email_links_to_the_site_url_and_reads_plainly(app, make_user):
    """Renders each email the request, clearing, imaging and processing flows queue, and scans them."""
    from lightserv.clearing import emails as clearing_emails
    from lightserv.imaging import emails as imaging_emails
    from lightserv.processing import emails as processing_emails
    from lightserv.requests import emails as request_emails
    from lightserv.runs import emails as run_emails

    for name, roles in (("ana", []), ("bo", []), ("cleo", ["clearing_staff"]), ("ivy", ["imaging_staff"]),
                        ("pat", ["processing_staff"])):  # fmt: skip
        make_user(name, roles=roles)
    submit(app, new_request("ana", "brains", [sample("s1"), sample("s2")]))
    pkey = dict(username="ana", request_name="brains", sample_name="s1", imaging_request_number=1,
                processing_request_number=1)  # fmt: skip
    today = dt.date(2026, 3, 2)
    batch = dict(username="ana", request_name="brains", clearing_batch_number=1, protocol_label="iDISCO+",
                 number_in_batch=1, earliest_handoff=today, clearer=None, imaging_request_number=1,
                 imaging_batch_number=1, number_in_imaging_batch=2, imager="ivy")  # fmt: skip
    run = dict(pkey, run_id=7, kind="lavision_pipeline", attempt=1, image_resolution="1.3x", ventral_up=0,
               failure_reason="Could not submit: refused")  # fmt: skip
    with app.test_request_context():
        request_emails.queue_access_granted({"username": "ana", "request_name": "brains"}, "bo", "auditor",
                                            dt.datetime(2026, 3, 2, 14))  # fmt: skip
        clearing_emails.queue_awaiting_clearing(today, [batch])
        imaging_emails.queue_waiting_imaging(today, [batch])
        processing_emails.queue_waiting(today, [dict(pkey, processing_progress="pending")], [])
        db.session.commit()
        processing_emails.send_failed(pkey, "1.3x: The registration step ran out of memory", [7])
        processing_emails.send_flatfield_needed(dict(run, image_resolution="3.6x"), ["488", "561"])
        run_emails.queue_run_failed(run, [])
    rows = all_emails(app)
    templates = {r.template for r in rows}
    assert {"request_received", "new_clearing_request", "access_granted", "samples_awaiting_clearing",
            "batches_waiting_for_imaging", "processing_waiting", "processing_failed", "flatfield_needed",
            "run_failed"} <= templates, templates  # fmt: skip
    site = app.config["SETTINGS"].site_url
    for row in rows:
        text = f"{row.subject}\n{row.body_text}"
        links = LINK.findall(text)
        assert all(link.startswith(site + "/") for link in links), (row.template, links)
        assert problems(text) == [], (row.template, problems(text), text)
    received = next(r for r in rows if r.template == "request_received")
    assert "2 samples" in received.body_text and "The Test Light-Sheet Core team" in received.body_text
    failed = next(r for r in rows if r.template == "processing_failed")
    assert "ran out of memory" in failed.body_text and "facility has been notified" in failed.body_text


def test_a_failure_is_told_in_words_and_a_damaged_raw_plane_is_named(app, settings):
    """A stage's own error line in its stderr becomes a sentence; scheduler states become words."""
    from lightserv.db import get_schemas
    from lightserv.runs.failures import describe_failure

    submit(app, new_request("ana", "brains", [sample("s1")]))
    key = dict(username="ana", request_name="brains", sample_name="s1", imaging_request_number=1)
    stderr = "ana/brains/logs/run7/setup_%A_%a.err"
    path = settings.data_root / "ana/brains/logs/run7/setup_4242_3.err"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("loading...\npython -m lib.pipeline.lavision blend: error: cannot read /data/ana/raw/"
                    "x_RawDataStack[00 x 00]_C00_xyz-Table Z0012_UltraII Filter0000.ome.tif: truncated file\n")
    run = dict(key, run_id=7, status="failed", failure_reason="Blend failed (exit code 2:0)", channel_name="",
               image_resolution="1.3x", ventral_up=0)  # fmt: skip
    job = dict(step_name="blend", state="FAILED", exit_code="2:0", raw_state="FAILED", slurm_job_id="4242",
               stderr_path=stderr)  # fmt: skip
    with app.test_request_context():
        channels = get_schemas().lightsheet.Request.ImagingChannel
        (row,) = (channels & key & {"channel_name": "488"}).to_dicts()
        channels.update1({k: row[k] for k in channels.primary_key} | {"imspector_channel_index": 0})
        damaged = describe_failure(run, [job])
        memory = describe_failure(run, [dict(job, state="OUT_OF_MEMORY", step_name="register")])
        other = describe_failure(run, [dict(job, slurm_job_id="1")])
    assert damaged.startswith("the blending step stopped: raw plane Z0012") and damaged.endswith("is damaged")
    assert memory == "the registration step ran out of memory"
    assert other == "the blending step stopped with an error"
    for text in (damaged, memory, other):
        assert "4242" not in text and "exit code" not in text and "lib.pipeline" not in text


@pytest.mark.parametrize("user", ["ana", "bo", "cleo", "pat"])
def test_main_pages_of_each_role_read_plainly(app, client, make_user, user):
    make_user("ana")
    make_user("bo")
    make_user("cleo", roles=["clearing_staff"])
    make_user("pat", roles=["processing_staff", "facility_admin"])
    submit(app, new_request("ana", "brains", [sample("s1"), sample("s2", protocol="udisco")], auditors=["bo"]))
    sign_in(client, user, clear=True)
    pages = ["/", "/requests/", "/requests/samples", "/requests/ana/brains"]
    if user in ("cleo", "pat"):
        pages += ["/clearing/queue"]
    if user == "pat":
        pages += ["/processing/queue", "/imaging/queue"]
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, url
        text = visible_text(resp.get_data(as_text=True))
        assert problems(text) == [], (url, problems(text))
        for stamp in re.findall(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M(?: [A-Z]{2,5})?", text):
            assert re.search(r"[AP]M [A-Z]{2,5}$", stamp), (url, stamp)  # a time carries its zone


def test_an_auditor_sees_shared_with_you_and_no_action_they_cannot_take(app, client, make_user):
    make_user("ana")
    make_user("bo")
    submit(app, new_request("ana", "brains", [sample("s1")], auditors=["bo"]))
    sign_in(client, "bo", clear=True)
    listing = visible_text(client.get("/requests/").get_data(as_text=True))
    assert "Shared with you" in listing and "Your requests" not in listing
    assert "N/A" not in listing and "Delete" not in listing
    overview = visible_text(client.get("/requests/ana/brains").get_data(as_text=True))
    assert "Delete: N/A" not in overview and "Cannot be deleted" not in overview


def test_the_favicon_is_served_and_linked(client, make_user):
    make_user("ana")
    sign_in(client, "ana", clear=True)
    page = client.get("/requests/").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in page
    resp = client.get("/static/favicon.svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml" and b"<svg" in resp.data
