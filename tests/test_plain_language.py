"""Plain language and consistency: emails and pages researchers read carry one site address, time zones,
correct plurals, no doubled words and no internal keys; failures are told in words; staff cancels are silent."""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import re
import shutil
from pathlib import Path

import pytest

from lightserv.extensions import db
from lightserv.models import EmailOutbox
from schemas.catalogue import PROTOCOLS
from tests.factories import new_request, sample, submit
from tests.support.auth import csrf_from, sign_in

ROOT = Path(__file__).resolve().parent.parent
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


def email_templates_in_the_code() -> set[str]:
    """Every template name the product queues: the first argument of each `queue_email(` call."""
    found = set()
    for path in (ROOT / "lightserv").rglob("*.py"):
        text = path.read_text()
        calls = re.findall(r"(?<!def )queue_email\(\s*(\S+)", text)
        assert all(re.fullmatch(r'"\w+",', c) for c in calls), (path, calls)  # a template named in words, so it is seen
        found |= {c.strip('",') for c in calls}
    return found


def _update(table, key: dict, **values) -> None:
    for row in (table & key).proj().to_dicts():
        table.update1({**row, **values})


def _layer(target, status: str = "ready") -> dict:
    now = dt.datetime(2026, 3, 2, 14)
    return dict(target.key(), layer_name=target.name(), layer_type="image", layer_path=str(target.folder()),
                source_path="x", status=status, created_at=now, ready_at=now, failure_reason="")  # fmt: skip


def _failed_run(ls_jobs, key: dict, kind: str, **extra) -> dict:
    """A failed run with one failed Slurm job, as the poller leaves it."""
    now = dt.datetime(2026, 3, 2, 14)
    run = dict(key, kind=kind, image_resolution="1.3x", start_stage="setup", status="failed", created_by="pat",
               created_at=now, params={}, run_dir="ana/brains/logs/run", output_dir="ana/brains/out", code_dir="/code",
               code_commit="0123456789abcdef0123456789abcdef01234567", failure_reason="Blend failed (exit code 2:0)",
               **extra)  # fmt: skip
    ls_jobs.PipelineRun.insert1(run)
    run_id = max(ls_jobs.PipelineRun.to_arrays("run_id"))
    ls_jobs.PipelineRun.SlurmJob.insert1(
        dict(run_id=run_id, step_index=0, step_name="blend", slurm_job_id=str(4242 + run_id), script_path="/s.sh",
             script_sha256="0" * 64, sbatch_args="", partition="all", cpus=1, mem_gb=1, time_limit="01:00:00",
             state="FAILED", raw_state="FAILED", exit_code="2:0", stdout_path="x.out", stderr_path="x.err")
    )  # fmt: skip
    return (ls_jobs.PipelineRun & {"run_id": run_id}).fetch1()


def queue_every_email(app, make_user) -> None:
    """Every email type the product can send, each through its real composing function with realistic data:
    ana's request brains (2 samples, cleared, imaged and processed with registration and cell detection) and
    her self-imaged request mine, the facility's staff, the daily reminders, digest, storage and data access."""
    from types import SimpleNamespace as NS

    from lightserv.admin.storage import take_snapshot
    from lightserv.clearing import emails as clearing_emails
    from lightserv.clearing.catalogue import load_protocol
    from lightserv.db import get_schemas
    from lightserv.imaging import emails as imaging_emails
    from lightserv.imaging import layer_emails
    from lightserv.layers.services import LayerTarget
    from lightserv.models import NotificationPreference
    from lightserv.notifications.digest import send_digests
    from lightserv.processing import emails as processing_emails
    from lightserv.requests import emails as request_emails
    from lightserv.runs import emails as run_emails
    from tests.factories import channel, resolution

    for name, roles in (("ana", []), ("bo", []), ("cleo", ["clearing_staff"]), ("ivy", ["imaging_staff"]),
                        ("pat", ["processing_staff", "facility_admin"])):  # fmt: skip
        make_user(name, roles=roles)
    ordered = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", ordered), sample("s2", ordered)]))
    submit(app, new_request("ana", "mine", [sample("m1")], self_imaging=True))
    brains = dict(username="ana", request_name="brains")
    pkey = dict(brains, sample_name="s1", imaging_request_number=1, processing_request_number=1)
    ikey = dict(brains, clearing_batch_number=1, imaging_request_number=1, imaging_batch_number=1)
    today = dt.date(2026, 3, 2)
    when = dt.datetime(2026, 3, 2, 14)
    batch = dict(brains, clearing_batch_number=1, protocol_label="iDISCO+", number_in_batch=2, earliest_handoff=today,
                 clearer=None, imaging_request_number=1, imaging_batch_number=1, number_in_imaging_batch=2,
                 imager="ivy")  # fmt: skip
    with app.test_request_context():
        db.session.add(NotificationPreference(username="bo", category="status", mode="digest"))
        db.session.commit()
        ls = get_schemas().lightsheet
        jobs = get_schemas().jobs
        part = ls.Request
        (cbatch,) = (part.ClearingBatch & brains).to_dicts()
        request_emails.queue_access_granted(brains, "bo", "auditor", when)
        request_emails.queue_request_folder_kept("ana", "gone", "2026-03-02T14:00:00", ["raw/a.tif", "raw/b.tif"])
        request_emails.queue_data_access_needed("ana", "is not in the group lightsheet-data")
        request_emails.queue_request_deleted(
            {"request": dict(brains, submitted_at=when), "clearing_batches": [cbatch],
             "clearing_batch_samples": (part.ClearingBatchSample & brains).to_dicts()}, "ana")  # fmt: skip
        created = [dict(sample_name="s2", processing_request_number=2, resolutions=[
            dict(image_resolution="1.3x", ventral_up=0, atlas_name="allen_2017", has_registration=True),
            dict(image_resolution="1.3x", ventral_up=1, atlas_name="allen_2017", has_registration=True)])]  # fmt: skip
        request_emails.queue_additional_processing(brains, 1, created, "d1")
        clearing_emails.queue_assigned(dict(brains, clearing_batch_number=1), cbatch, "cleo", when)
        clearing_emails.queue_awaiting_clearing(today, [batch])
        _update(part.ClearingBatch, brains, clearing_progress="complete", completed_at=when)
        proto = load_protocol(cbatch["protocol"])
        clearing_emails.queue_completed(dict(brains, clearing_batch_number=1), cbatch, proto)
        mine = dict(username="ana", request_name="mine")
        _update(part.ImagingBatch, mine, imager="ana")
        (mbatch,) = (part.ClearingBatch & mine).to_dicts()
        clearing_emails.queue_completed(dict(mine, clearing_batch_number=1), mbatch, load_protocol(mbatch["protocol"]))
        chosen = [NS(sample_name="s1", resolutions=[NS(image_resolution="1.3x"), NS(image_resolution="4x")])]
        request_emails.queue_additional_imaging(brains, chosen, 2, False, {"s1": 1})
        imaging_emails.queue_batch_assigned(ikey, "ivy", when)
        imaging_emails.queue_waiting_imaging(today, [batch])
        _update(part.ImagingChannel, brains, rawdata_subfolder="acq", left_lightsheet_used=1, right_lightsheet_used=1)
        _update(part.ImagingRequest, dict(brains, sample_name="s1"), imaging_progress="complete")
        _update(part.ImagingRequest, dict(brains, sample_name="s2"), imaging_progress="skipped",
                skip_reason="the sample was damaged in clearing")  # fmt: skip
        imaging_emails.queue_batch_completed(ikey)
        processing_emails.queue_waiting(today, [dict(pkey, processing_progress="pending")],
                                        [dict(pkey, processing_progress="running")])  # fmt: skip
        imaging = dict(brains, sample_name="s1", imaging_request_number=1)
        for wavelength in ("488", "647"):
            for sheet in ("left", "right"):
                raw = LayerTarget(*imaging.values(), "1.3x", wavelength, "raw", lightsheet=sheet)
                part.DataLayer.insert1(_layer(raw))
        raw_run = dict(imaging, run_id=0, channel_name="488", lightsheet="left", attempt=1, image_resolution="1.3x",
                       ventral_up=0)  # fmt: skip
        layer_emails.raw_ready(raw_run)
        failed_raw = _failed_run(jobs, imaging, "precomputed_raw", channel_name="647", lightsheet="right")
        layer_emails.raw_failed(failed_raw)
        outputs = "ana/brains/s1/imaging_request_1/output/processing_request_1/resolution_1.3x"
        _update(part.ProcessingResolutionRequest, pkey, output_dir=outputs)
        for product, wavelength, role in (("blended", "488", ""), ("blended", "647", ""), ("downsized", "488", ""),
                                          ("registered", "488", "regch"), ("cells", "647", ""),
                                          ("cells_registered", "647", "")):  # fmt: skip
            target = LayerTarget(*imaging.values(), "1.3x", wavelength, product, processing_request_number=1, role=role)
            part.DataLayer.insert1(_layer(target))
        _update(part.ProcessingRequest, brains, processing_progress="complete", completed_at=when)
        db.session.commit()
        processing_emails.send_complete(pkey)
        processing_emails.send_failed(pkey, "1.3x: the registration step ran out of memory", [7])
        smartspim = dict(brains, sample_name="s2", imaging_request_number=1, run_id=9, kind="smartspim_pipeline",
                         attempt=1, image_resolution="3.6x", ventral_up=0)  # fmt: skip
        processing_emails.send_flatfield_needed(smartspim, ["488", "561"])
        pipeline_run = _failed_run(jobs, pkey, "lavision_pipeline")
        run_emails.queue_run_failed(pipeline_run, (jobs.PipelineRun.SlurmJob & pipeline_run).to_dicts())
        unsubmitted = dict(pipeline_run, run_id=pipeline_run["run_id"] + 100,
                           failure_reason="Could not submit: sbatch refused the job")  # fmt: skip
        run_emails.queue_run_failed(unsubmitted, [])
        take_snapshot()
        send_digests(dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=1), "America/New_York")
        db.session.commit()


#: emails to facility staff that may name scheduler details (job ids, exit codes, log paths, code commits)
STAFF_DETAIL_EMAILS = {"run_failed", "raw_conversion_failed"}
SNAKE_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
SCHEDULER_DETAIL = re.compile(r"Slurm|exit code|\bjob \d+|\b[0-9a-f]{40}\b|\bgench\b|\b\d+:\d+\b(?! [AP]M)")


def test_every_email_links_to_the_site_url_and_reads_plainly(app, make_user, settings, monkeypatch):
    """Renders every email type the code can queue and scans each: links on SITE_URL, no doubled word, no
    internal key, no "(s)", times with their zone, and no scheduler details for researchers."""
    monkeypatch.setattr(settings, "data_group", "lightsheet-data")
    monkeypatch.setattr(settings, "it_help_email", "it@test.example")
    queue_every_email(app, make_user)
    rows = all_emails(app)
    templates = {r.template for r in rows}
    assert templates == email_templates_in_the_code(), (
        "email types without a rendering here", email_templates_in_the_code() - templates,
    )
    site = app.config["SETTINGS"].site_url
    found = []
    shutil.rmtree(ROOT / "test-artifacts" / "emails", ignore_errors=True)
    (ROOT / "test-artifacts" / "emails").mkdir(parents=True)
    for row in rows:
        text = f"{row.subject}\n{row.body_text}"
        with open(ROOT / "test-artifacts" / "emails" / f"{row.template}.txt", "a") as out:  # to read them all
            out.write(f"To: {', '.join(row.to_addrs)}\nSubject: {text}\n\n")
        links = LINK.findall(text)
        found += [(row.template, f"foreign link {link}") for link in links if not link.startswith(site + "/")]
        found += [(row.template, problem) for problem in problems(text)]
        words = " ".join(w for w in text.split() if "/" not in w)  # folders and links may hold underscores
        found += [(row.template, f"internal key {key!r}") for key in SNAKE_KEY.findall(words)]
        for stamp in re.findall(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d(?: [AP]M)?(?: [A-Z]{2,5})?", text):
            if not re.search(r"[AP]M [A-Z]{2,5}$", stamp):
                found.append((row.template, f"time without its zone {stamp!r}"))
        if row.template not in STAFF_DETAIL_EMAILS:
            found += [(row.template, f"scheduler detail {m.group(0)!r}") for m in SCHEDULER_DETAIL.finditer(text)]
    assert found == [], found
    received = next(r for r in rows if r.template == "request_received")
    assert "2 samples" in received.body_text and "The Test Light-Sheet Core team" in received.body_text
    failed = next(r for r in rows if r.template == "processing_failed")
    assert "ran out of memory" in failed.body_text and "facility has been notified" in failed.body_text
    complete = next(r for r in rows if r.template == "processing_complete")
    assert "488 nm" in complete.body_text and "detected cells" in complete.body_text
    self_imaging = next(r for r in rows if r.template == "samples_ready_for_self_imaging")
    assert "imaging batch 1: sample m1; resolutions 1.3x (488)" in self_imaging.body_text
    assert "imaging at 1.3x (488 nm, 647 nm)" in received.body_text and "antibodies: none" in received.body_text
    assigned = next(r for r in rows if r.template == "imaging_assigned")
    assert "Imaging batch 1 of ana/brains (clearing batch 1, imaging request 1) was assigned" in assigned.body_text
    run_failed = next(r for r in rows if r.template == "run_failed" and "Slurm job" in r.body_text)
    assert "exit code 2:0" in run_failed.body_text  # staff keep the details


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


#: a layer's key (`blended_ch488`, `registered_ch488_regch`, `atlas_allen_2017`): never read by a researcher
LAYER_KEY = re.compile(r"\b(?:raw|stitched|blended|corrected|downsized|registered|cells|cells_registered)_ch\d+\w*"
                       r"|\batlas_[a-z]\w*")  # fmt: skip


def test_the_viewer_pages_name_each_layer_in_words(app, client, make_user, settings):
    """The viewer setup page and the sessions page name each layer in words ("488 nm · registered volume",
    "Allen atlas (2017)"), never by its key; folders may hold keys."""
    from tests.factories import channel, resolution
    from tests.support.layers import write_atlas_layer
    from tests.viewer.conftest import SETUP, World

    write_atlas_layer(settings.atlas_root / "allen_2017" / "precomputed")
    make_user("ana")
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes)]))
    world = World(app)
    world.imaging(imaging_progress="complete")
    for product, wavelength, role in (("blended", "488", ""), ("blended", "647", ""), ("downsized", "488", ""),
                                      ("registered", "488", "regch"), ("cells", "647", ""),
                                      ("cells_registered", "647", "")):  # fmt: skip
        world.layer(product, wavelength, role=role, build=False)
    sign_in(client, "ana", clear=True)
    setup = client.get(SETUP).get_data(as_text=True)
    registered, blended, cells = "1.3x|0|registered|488|none", "1.3x|0|blended|647|none", "1.3x|0|cells|647|none"
    resp = client.post(SETUP, data={"layer": [registered, blended, cells], "overlay": [registered],
                                    "csrf_token": csrf_from(setup)})  # fmt: skip
    assert resp.status_code == 303
    sessions = client.get(resp.headers["Location"]).get_data(as_text=True)
    for url, page in ((SETUP, setup), (resp.headers["Location"], sessions)):
        words = " ".join(w for w in visible_text(page).split() if "/" not in w)  # folders may hold layer keys
        assert LAYER_KEY.findall(words) == [], url
        assert problems(words) == [], (url, problems(words))
    assert "488 nm · registered volume" in setup and "647 nm · detected cells in atlas space" in setup
    assert "488 nm · registered volume" in sessions and "Allen atlas (2017)" in sessions


def test_the_footer_starts_with_a_capital_letter(client, settings, monkeypatch):
    """The default facility name reads "the ..." inside sentences; the footer line starts with "The ..."."""
    monkeypatch.setattr(settings, "facility_name", "the Light-Sheet Microscopy Core Facility")
    footer = visible_text(client.get("/login").get_data(as_text=True).split("<footer", 1)[1])
    assert "The Light-Sheet Microscopy Core Facility · Questions:" in footer
