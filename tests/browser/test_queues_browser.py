"""In Chromium: the clearing, imaging and processing queues, built from one template, colour each row by the
state of its table (as the lists do), fit 1440 and 390 px, and axe finds nothing serious. Screenshots go to
test-artifacts/queue-<team>-<width>.png."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from tests.factories import channel, new_request, resolution, sample, submit
from tests.processing.conftest import complete_imaging
from tests.support import browser_fixtures
from tests.support.page_audit import shoot_and_audit

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


def _set(app, table: str, key: dict, **values) -> None:
    with app.app_context():
        getattr(get_schemas().lightsheet.Request, table).update1({**key, **values})


def test_the_three_queues_colour_rows_by_state_and_fit_the_screen(app, live_server, page, make_user, artifacts_dir):
    make_user("ana")
    make_user("root", roles=["facility_admin"], password=PASSWORD)
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample(s, wishes) for s in ("s1", "s2", "s3")]))
    submit(app, new_request("ana", "waiting", [sample("w1", wishes, protocol="udisco")]))
    for s in ("s1", "s2", "s3"):
        complete_imaging(app, owner="ana", name="brains", sample_name=s, make_folders=False)
    pr = dict(username="ana", request_name="brains", imaging_request_number=1, processing_request_number=1)
    _set(app, "ProcessingRequest", {**pr, "sample_name": "s2"}, processing_progress="running")
    _set(app, "ProcessingRequest", {**pr, "sample_name": "s3"}, processing_progress="failed",
         failure_summary="The registration step ran out of memory")  # fmt: skip
    _set(app, "ClearingBatch", dict(username="ana", request_name="waiting", clearing_batch_number=1),
         clearing_progress="in_progress")  # fmt: skip

    browser_fixtures.log_in(page, live_server, "root", PASSWORD)
    expected = {
        "clearing": {"in_progress": "status-progress", "complete": "status-complete"},
        "imaging": {"waiting": "status-pending", "ready": "status-pending"},
        "processing": {"attention": "status-attention", "running": "status-progress", "ready": "status-pending"},
    }
    for team, tables in expected.items():
        page.goto(f"{live_server}/{team}/queue")
        for table, css in tables.items():
            rows = page.locator(f'[data-testid="queue-{table}"] tbody tr')
            assert rows.count() >= 1, (team, table)
            assert all(css in rows.nth(i).get_attribute("class").split() for i in range(rows.count())), (team, table)
        shoot_and_audit(page, artifacts_dir, f"queue-{team}")
    assert "ran out of memory" in page.get_by_test_id("queue-attention").inner_text()
