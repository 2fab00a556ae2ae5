"""Known data for the dashboard tests (tests/admin/test_dashboard.py and the browser test)."""

from __future__ import annotations

import datetime as dt

from lightserv.admin.queries.dashboard import month_starts
from lightserv.common.audit import utcnow
from tests.factories import channel, new_request, resolution, sample, submit

DAY = dt.timedelta(days=1)


def _months_ago(today: dt.date, n: int) -> dt.date:
    return month_starts(today, n + 1)[0] + dt.timedelta(days=9)


def seed_dashboard(app, make_user, settings) -> dt.date:
    """Five real requests and one testing request, pushed to known states and times.

    clearing durations (submission -> complete): r1 1 d, r2 2 d, r3 3 d, r4 10 d; r5 pending;
    imaging (clearing complete -> imaging complete): r1 4 d, r2 6 d; r3, r4 ready; r5 waiting;
    processing (imaging complete -> processing complete): r1 2 d;
    imaged this month: r1 (LaVision 1.3x); two months ago: r2 (SmartSPIM 3.6x); eight months ago: r3.
    The testing request has a 20-day clearing, an imaging this month and is counted nowhere."""
    from lightserv.common.timefmt import to_local
    from lightserv.db import get_schemas

    make_user("ana")
    spim = sample("s1", resolution("3.6x", channel("488")))
    for name, kw in [
        ("r1", {}),
        ("r2", {"samples": [spim]}),
        ("r3", {}),
        ("r4", {}),
        ("r5", {}),
        ("t1", {"testing": True}),
    ]:
        submit(app, new_request("ana", name, **kw))
    now = utcnow().replace(microsecond=0)
    today = to_local(now, settings.display_timezone).date()
    t0 = now - 30 * DAY
    clearing = {"r1": 1, "r2": 2, "r3": 3, "r4": 10, "t1": 20}
    imaging = {"r1": 4, "r2": 6, "t1": 1}
    performed = {"r1": today, "r2": _months_ago(today, 2), "r3": _months_ago(today, 8), "t1": today}
    with app.app_context():
        ls = get_schemas().lightsheet.Request
        for name in ("r1", "r2", "r3", "r4", "r5", "t1"):
            key = {"username": "ana", "request_name": name}
            get_schemas().lightsheet.Request.update1(dict(key, submitted_at=t0))
            ls.Sample.update1(dict(key, sample_name="s1", expected_handoff_date=None))
            if name in clearing:
                ls.ClearingBatch.update1(
                    dict(
                        key,
                        clearing_batch_number=1,
                        clearing_progress="complete",
                        started_at=t0,
                        completed_at=t0 + clearing[name] * DAY,
                    )
                )
            if name in imaging:
                ls.ImagingBatch.update1(
                    dict(
                        key,
                        clearing_batch_number=1,
                        imaging_request_number=1,
                        imaging_batch_number=1,
                        submitted_at=t0,
                        imaging_progress="complete",
                        completed_at=t0 + (clearing[name] + imaging[name]) * DAY,
                    )
                )
            if name in performed:
                ls.ImagingRequest.update1(
                    dict(
                        key,
                        sample_name="s1",
                        imaging_request_number=1,
                        imaging_progress="complete",
                        imaging_performed_date=performed[name],
                    )
                )
        ls.ProcessingRequest.update1(
            dict(
                username="ana",
                request_name="r1",
                sample_name="s1",
                imaging_request_number=1,
                processing_request_number=1,
                submitted_at=t0,
                processing_progress="complete",
                completed_at=t0 + 7 * DAY,
            )
        )
        snapshots = get_schemas().facility.StorageSnapshot
        for days, used, avail, status in [
            (3, 10.0, 90.0, "ok"),
            (2, 12.5, 87.5, "ok"),
            (1, 0, 0, "error"),
            (200, 1.0, 99.0, "ok"),
        ]:
            snapshots.insert1(
                dict(
                    taken_at=now - days * DAY,
                    filesystem="data",
                    size_tb=100.0,
                    used_tb=used,
                    avail_tb=avail,
                    status=status,
                    message="",
                )
            )
    return today
