"""The retention report: completed requests past a chosen age, grouped by
raw-data retention preference, with raw-data sizes measured on disk; superseded outputs of re-runs past
SUPERSEDED_RETENTION_DAYS; both sorted and paged in SQL, both as CSV. Admins only; nothing is deleted."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from pathlib import Path

import pytest

from lightserv.db import get_schemas
from tests.factories import new_request, sample, submit

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _finish(app, owner: str, name: str, days_ago: int, *, processing_days_ago: int | None = None) -> None:
    """Mark every clearing batch, imaging and processing request of the request complete, `days_ago` days ago
    (processing at `processing_days_ago` when given)."""
    when = NOW - dt.timedelta(days=days_ago)
    key = {"username": owner, "request_name": name}
    with app.app_context():
        r = get_schemas().lightsheet.Request
        for b in (r.ClearingBatch & key).to_dicts():
            r.ClearingBatch.update1({**{k: b[k] for k in r.ClearingBatch.primary_key}, "clearing_progress": "complete",
                                     "completed_at": when})  # fmt: skip
        for i in (r.ImagingRequest & key).to_dicts():
            r.ImagingRequest.update1({**{k: i[k] for k in r.ImagingRequest.primary_key}, "imaging_progress": "complete",
                                      "imaging_performed_date": when.date()})  # fmt: skip
        done = NOW - dt.timedelta(days=processing_days_ago if processing_days_ago is not None else days_ago)
        for p in (r.ProcessingRequest & key).to_dicts():
            r.ProcessingRequest.update1({**{k: p[k] for k in r.ProcessingRequest.primary_key},
                                         "processing_progress": "complete", "completed_at": done})  # fmt: skip


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


@pytest.fixture
def data_root(app):
    root = Path(app.config["SETTINGS"].data_root)
    yield root
    for owner in ("ana", "bo"):
        shutil.rmtree(root / owner, ignore_errors=True)


@pytest.fixture
def raw_world(app, make_user, data_root):
    make_user("ana")
    make_user("bo")
    submit(
        app, new_request("ana", "old_ni", [sample("s1"), sample("s2")], raw_data_retention_preference="not_important")
    )
    submit(app, new_request("ana", "old_imp", raw_data_retention_preference="important"))
    submit(app, new_request("bo", "recent", raw_data_retention_preference="not_important"))
    submit(app, new_request("bo", "pending_one", raw_data_retention_preference="not_important"))
    submit(app, new_request("bo", "test_old", raw_data_retention_preference="not_sure", testing=True))
    submit(app, new_request("bo", "late_proc", raw_data_retention_preference="kind_of_important"))
    _finish(app, "ana", "old_ni", 400)
    _finish(app, "ana", "old_imp", 500)
    _finish(app, "bo", "recent", 10)
    _finish(app, "bo", "test_old", 400)
    _finish(app, "bo", "late_proc", 400, processing_days_ago=20)  # finished when processing completed
    raw = data_root / "ana" / "old_ni"
    _write(raw / "s1" / "imaging_request_1" / "rawdata" / "resolution_1.3x" / "acq" / "a.tif", 1000)
    _write(raw / "s2" / "imaging_request_1" / "rawdata" / "resolution_1.3x" / "acq" / "b.tif", 234)
    _write(raw / "s1" / "imaging_request_1" / "output" / "big.tif", 99999)  # processed data: never counted
    return app


def _rows(html: str) -> list[str]:
    return re.findall(r'data-request="([^"]+)"', html)


def _csv(resp) -> list[dict]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=lightserv-retention-")
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


@pytest.mark.parametrize("role", ["researcher", "clearing", "imaging", "processing"])
def test_only_admins_see_the_report(client, login_as, role):
    login_as(role)
    assert client.get("/admin/retention").status_code == 403
    assert client.get("/admin/retention.csv").status_code == 403
    assert client.get("/admin/retention?view=superseded").status_code == 403


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get("/admin/retention").status_code == 302


def test_completed_requests_past_the_age_are_listed_least_important_first(client, login_as, raw_world):
    login_as("admin", "root")
    html = client.get("/admin/retention").get_data(as_text=True)
    # recent (10 days), pending_one (not complete), test_old (testing) and late_proc (processed 20 days ago) are out
    assert _rows(html) == ["ana/old_ni", "ana/old_imp"]
    row = html.split('data-request="ana/old_ni"', 1)[1].split("</tr>", 1)[0]
    assert "Not important" in row and '<td class="text-nowrap" data-testid="age">400 days</td>' in row
    assert 'data-bytes="1234"' in row and "(2 files)" in row  # raw data only, never the output folder
    other = html.split('data-request="ana/old_imp"', 1)[1].split("</tr>", 1)[0]
    assert "unknown (no raw-data folder)" in other
    summary = html.split('data-testid="retention-summary"', 1)[1].split("</table>", 1)[0]
    counts = dict(re.findall(r'data-preference="([a-z_]+)">.*?</th><td>(\d+)</td>', summary, re.S))
    assert counts == {"not_important": "1", "not_sure": "0", "kind_of_important": "0", "important": "1"}


def test_the_age_preference_owner_and_testing_filters(client, login_as, raw_world):
    login_as("admin", "root")
    assert _rows(client.get("/admin/retention?age=5").get_data(as_text=True)) == [
        "ana/old_ni", "bo/recent", "bo/late_proc", "ana/old_imp"]  # fmt: skip
    assert _rows(client.get("/admin/retention?age=450").get_data(as_text=True)) == ["ana/old_imp"]
    assert _rows(client.get("/admin/retention?preference=important").get_data(as_text=True)) == ["ana/old_imp"]
    assert _rows(client.get("/admin/retention?owner=bo&age=5").get_data(as_text=True)) == ["bo/recent", "bo/late_proc"]
    with_testing = client.get("/admin/retention?testing=1").get_data(as_text=True)
    assert _rows(with_testing) == ["ana/old_ni", "bo/test_old", "ana/old_imp"]
    bad = client.get("/admin/retention?age=forever")
    assert bad.status_code == 200
    text = bad.get_data(as_text=True)
    assert 'data-testid="age-error"' in text and "Enter a whole number of days" in text
    assert _rows(text) == ["ana/old_ni", "ana/old_imp"]  # the default age is used


def test_sorting_and_paging_happen_in_sql(app, client, login_as, raw_world, monkeypatch):
    login_as("admin", "root")
    by_age = _rows(client.get("/admin/retention?sort=finished&direction=asc&age=5").get_data(as_text=True))
    assert by_age == ["ana/old_imp", "ana/old_ni", "bo/late_proc", "bo/recent"]
    by_owner = _rows(client.get("/admin/retention?sort=owner&direction=desc&age=5").get_data(as_text=True))
    assert by_owner[:2] == ["bo/recent", "bo/late_proc"] or by_owner[:2] == ["bo/late_proc", "bo/recent"]
    assert by_owner[2:] in (["ana/old_ni", "ana/old_imp"], ["ana/old_imp", "ana/old_ni"])
    from lightserv.admin import routes

    real = routes.parse_page_request
    monkeypatch.setattr(routes, "parse_page_request", lambda *a, **kw: real(*a, **{**kw, "per_page": 3}))
    first = client.get("/admin/retention?age=5&sort=finished&direction=asc").get_data(as_text=True)
    second = client.get("/admin/retention?age=5&sort=finished&direction=asc&page=2").get_data(as_text=True)
    assert _rows(first) == by_age[:3] and _rows(second) == by_age[3:]
    assert "Page 1 of 2 (4 rows)" in first


def test_the_csv_has_every_row_of_the_filter_with_sizes(client, login_as, raw_world, monkeypatch):
    monkeypatch.setattr("lightserv.common.csvexport.CHUNK", 1)
    login_as("admin", "root")
    html = client.get("/admin/retention?age=5&sort=finished&direction=asc").get_data(as_text=True)
    link = re.search(r'data-testid="retention-csv" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    rows = _csv(client.get(link))
    assert [f"{r['owner']}/{r['request_name']}" for r in rows] == _rows(html)
    old = next(r for r in rows if r["request_name"] == "old_ni")
    assert old["raw_data_bytes"] == "1234" and old["raw_data_files"] == "2" and old["raw_data_state"] == "measured"
    assert old["retention_preference"] == "not_important" and old["age_days"] == "400" and old["samples"] == "2"
    assert old["raw_data_folders"].split() == ["ana/old_ni/s1/imaging_request_1/rawdata",
                                               "ana/old_ni/s2/imaging_request_1/rawdata"]  # fmt: skip
    imp = next(r for r in rows if r["request_name"] == "old_imp")
    assert imp["raw_data_bytes"] == "" and imp["raw_data_state"] == "missing"


def test_measuring_stops_at_its_time_budget(client, login_as, raw_world, monkeypatch):
    monkeypatch.setattr("lightserv.admin.retention.MEASURE_BUDGET_SECONDS", -1.0)
    login_as("admin", "root")
    html = client.get("/admin/retention").get_data(as_text=True)
    row = html.split('data-request="ana/old_ni"', 1)[1].split("</tr>", 1)[0]
    assert "not measured yet" in row and "data-bytes" not in row


# --- superseded outputs --------------------------------------------------------------------------------


def _run(app, owner: str, name: str, output_dir: str, attempt: int = 1) -> int:
    from lightserv.runs.engine import create_run
    from lightserv.runs.model import StageDef

    target = {"username": owner, "request_name": name, "sample_name": "s1", "imaging_request_number": 1,
              "processing_request_number": 1, "image_resolution": "1.3x"}  # fmt: skip
    with app.test_request_context():
        return create_run("lavision_pipeline", target, [StageDef("setup", "lib.cluster.types")], {},
                          created_by="pat", output_dir=output_dir, attempt=attempt)  # fmt: skip


def _supersede(app, old: int, new: int, days_ago: int) -> None:
    with app.app_context():
        runs = get_schemas().jobs.PipelineRun
        runs.update1({"run_id": old, "superseded_by_run_id": new})
        runs.update1({"run_id": new, "created_at": NOW - dt.timedelta(days=days_ago)})


@pytest.fixture
def superseded_world(app, make_user, data_root):
    make_user("ana")
    make_user("bo")
    submit(app, new_request("ana", "brains"))
    submit(app, new_request("bo", "tests_only", testing=True))
    out = "ana/brains/s1/imaging_request_1/output/processing_request_1/resolution_1.3x"
    viz = data_root / "ana" / "brains" / "s1" / "imaging_request_1" / "viz" / ".superseded"
    old, mid, new = (
        _run(app, "ana", "brains", out),
        _run(app, "ana", "brains", out, 2),
        _run(app, "ana", "brains", out, 3),
    )
    _supersede(app, old, mid, 60)  # past the 30 days, folders already removed by the job
    _supersede(app, mid, new, 40)  # past the 30 days, still on disk
    _write(data_root / out / "superseded" / "attempt_2" / "elastix" / "result.1.tif", 500)
    _write(viz / f"run_{mid}" / "processing_request_1" / "registered" / "info", 100)
    recent_old, recent_new = _run(app, "ana", "brains", out, 4), _run(app, "ana", "brains", out, 5)
    _supersede(app, recent_old, recent_new, 5)  # within the 30 days
    test_old, test_new = (
        _run(app, "bo", "tests_only", "bo/tests_only/x"),
        _run(app, "bo", "tests_only", "bo/tests_only/x"),
    )
    _supersede(app, test_old, test_new, 90)
    return {"removed": old, "on_disk": mid, "recent": recent_old, "testing": test_old}


def _runs(html: str) -> list[int]:
    return [int(r) for r in re.findall(r'data-run="(\d+)"', html)]


def test_superseded_outputs_past_the_retention_days_with_their_size(client, login_as, superseded_world):
    w = superseded_world
    login_as("admin", "root")
    html = client.get("/admin/retention?view=superseded").get_data(as_text=True)
    assert _runs(html) == [w["removed"], w["on_disk"]]  # oldest supersession first; recent and testing left out
    on_disk = html.split(f'data-run="{w["on_disk"]}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-bytes="600"' in on_disk and "(2 files)" in on_disk and "40 days" in on_disk
    assert f'data-run="{w["on_disk"]}" class="table-warning"' in html  # still on disk past the limit
    removed = html.split(f'data-run="{w["removed"]}"', 1)[1].split("</tr>", 1)[0]
    assert ">removed<" in removed and "60 days" in removed
    every = _runs(client.get("/admin/retention?view=superseded&show=all&testing=1").get_data(as_text=True))
    assert sorted(every) == sorted(w.values())
    newest_first = _runs(client.get("/admin/retention?view=superseded&show=all&sort=superseded&direction=desc")
                         .get_data(as_text=True))  # fmt: skip
    assert newest_first == [w["recent"], w["on_disk"], w["removed"]]
    assert _runs(client.get("/admin/retention?view=superseded&owner=bo&testing=1").get_data(as_text=True)) == [
        w["testing"]]  # fmt: skip


def test_the_superseded_csv(client, login_as, superseded_world):
    w = superseded_world
    login_as("admin", "root")
    rows = _csv(client.get("/admin/retention.csv?view=superseded&show=all"))
    by_run = {int(r["run_id"]): r for r in rows}
    assert set(by_run) == {w["removed"], w["on_disk"], w["recent"]}
    assert by_run[w["on_disk"]]["bytes"] == "600" and by_run[w["on_disk"]]["state"] == "measured"
    assert by_run[w["on_disk"]]["past_retention"] == "yes" and by_run[w["on_disk"]]["age_days"] == "40"
    assert by_run[w["removed"]]["state"] == "removed" and by_run[w["removed"]]["bytes"] == ""
    assert by_run[w["recent"]]["past_retention"] == "no"
    assert by_run[w["on_disk"]]["owner"] == "ana" and by_run[w["on_disk"]]["attempt"] == "2"


def test_the_report_never_deletes_anything(client, login_as, superseded_world, data_root):
    login_as("admin", "root")
    before = sorted(p for p in data_root.rglob("*"))
    client.get("/admin/retention?view=superseded&show=all")
    client.get("/admin/retention.csv?view=superseded&show=all").get_data()
    assert sorted(p for p in data_root.rglob("*")) == before


def test_hostile_filters_fall_back_without_errors(client, login_as, raw_world):
    login_as("admin", "root")
    queries = [
        "age=99999999999999999999999",
        "age=-5",
        "preference=' OR 1=1",
        "owner=<script>x</script>",
        "view=../../etc&sort=nope&direction=sideways&page=-3",
        "view=superseded&show=<b>&sort=1;DROP",
    ]
    for query in queries:
        resp = client.get(f"/admin/retention?{query}")
        assert resp.status_code == 200, query
        assert "<script>x</script>" not in resp.get_data(as_text=True)
        assert client.get(f"/admin/retention.csv?{query}").status_code == 200, query
