"""The storage check: statvfs numbers, status thresholds, the admins' email."""

from __future__ import annotations

import os

import pytest
from celery.contrib.testing.worker import start_worker

from lightserv.db import get_schemas


@pytest.fixture
def admins(make_user):
    make_user("root1", roles=["facility_admin"], email="root1@core.example")


def test_the_snapshot_matches_statvfs_and_says_all_clear(app, smtp, admins, settings, monkeypatch):
    from lightserv.admin.storage import take_snapshot

    monkeypatch.setattr(settings, "storage_warn_free_tb", 0.0)
    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
        with app.app_context():
            row = take_snapshot()
        # the worker's task needs the app (one app context at a time per process): wait outside ours
        ((to, msg),) = smtp.wait_for(1, app=app)
    stats = os.statvfs(settings.data_root)
    assert row["status"] == "ok"
    assert abs(row["avail_tb"] - stats.f_bavail * stats.f_frsize / 1e12) < 0.01
    assert msg["Subject"] == "lightserv: ALL CLEAR" and to == ["root1@core.example"]
    with app.app_context():
        assert len(get_schemas().facility.StorageSnapshot()) == 1


def test_little_free_space_is_a_warning(app, admins, settings, monkeypatch):
    from lightserv.admin.storage import take_snapshot

    monkeypatch.setattr(settings, "storage_warn_free_tb", 1e9)
    with app.app_context():
        row = take_snapshot()
    assert row["status"] == "warning" and "warning below" in row["message"]


def test_a_missing_path_is_an_error_not_a_crash(app, admins, settings, monkeypatch, tmp_path):
    from lightserv.admin.storage import take_snapshot

    monkeypatch.setattr(settings, "storage_path", tmp_path / "not-mounted")
    with app.app_context():
        row = take_snapshot()
    assert row["status"] == "error" and "Could not measure" in row["message"]


def test_admin_runs_the_check_from_the_page(app, client, login_as, post_form):
    login_as("admin", "root2")
    resp = post_form("/admin/storage/check", {}, token_page="/admin/storage")
    assert resp.status_code == 302
    html = client.get("/admin/storage").get_data(as_text=True)
    assert 'data-testid="latest-snapshot"' in html
