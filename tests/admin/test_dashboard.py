"""The admin dashboard: queues by state, microscope usage per month,
turnaround percentiles per stage and storage history, each with a chart, a table and a CSV; testing
requests left out."""

from __future__ import annotations

import csv
import io

import pytest

from lightserv.admin.queries.dashboard import month_starts
from tests.admin.seed import seed_dashboard


@pytest.fixture
def seeded(app, make_user, settings):
    return seed_dashboard(app, make_user, settings)


def csv_rows(client, name: str) -> list[list[str]]:
    resp = client.get(f"/admin/dashboard/{name}.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True))))


def test_queues_count_states_without_testing_requests(client, login_as, seeded):
    login_as("admin", "root")
    assert csv_rows(client, "clearing") == [
        ["State", "Count"],
        ["Ready to clear", "1"],
        ["Being cleared", "0"],
        ["Cleared", "4"],
    ]
    assert csv_rows(client, "imaging") == [
        ["State", "Count"],
        ["Waiting for clearing", "1"],
        ["Ready to image", "2"],
        ["Being imaged", "0"],
        ["Imaged", "2"],
    ]
    assert csv_rows(client, "processing")[1:] == [
        ["Pending", "4"],
        ["Running", "0"],
        ["Complete", "1"],
        ["Failed", "0"],
    ]


def test_microscope_usage_counts_imaged_resolutions_per_month_of_the_last_seven(client, login_as, seeded):
    login_as("admin", "root")
    rows = csv_rows(client, "microscopes")
    months = [f"{m:%Y-%m}" for m in month_starts(seeded)]
    assert rows[0] == ["Month", "LaVision", "SmartSPIM"]
    assert [r[0] for r in rows[1:]] == months
    counts = {r[0]: (r[1], r[2]) for r in rows[1:]}
    assert counts[months[-1]] == ("1", "0")  # r1; the testing request is left out
    assert counts[months[-3]] == ("0", "1")  # r2 at 3.6x
    assert sum(int(a) + int(b) for a, b in counts.values()) == 2  # r3 was imaged eight months ago


def test_turnaround_percentiles_come_from_the_stored_times(client, login_as, seeded):
    login_as("admin", "root")
    rows = csv_rows(client, "turnaround")
    assert rows[0] == ["Stage", "p50 (days)", "p90 (days)", "Completed"]
    assert rows[1:] == [
        ["Clearing", "2.5", "7.9", "4"],
        ["Imaging", "5.0", "5.8", "2"],
        ["Processing", "2.0", "2.0", "1"],
    ]


def test_storage_history_shows_successful_snapshots_of_the_last_90_days(client, login_as, seeded):
    login_as("admin", "root")
    rows = csv_rows(client, "storage")
    assert [r[1:] for r in rows[1:]] == [["10.0", "90.0"], ["12.5", "87.5"]]


def test_the_page_draws_every_chart_with_its_table_and_csv_link(client, login_as, seeded):
    login_as("admin", "root")
    html = client.get("/admin/dashboard").get_data(as_text=True)
    for name in ("clearing", "imaging", "processing", "microscopes", "turnaround", "storage"):
        section = html.split(f'data-testid="figure-{name}"', 1)[1].split("</section>", 1)[0]
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in section and 'role="img"' in section
        assert f'data-testid="table-{name}"' in section
        assert f'href="/admin/dashboard/{name}.csv"' in section
    assert "<polyline" in html.split('data-testid="figure-storage"', 1)[1]
    assert "https://" not in html.split("<main", 1)[1].split("</main>", 1)[0].replace(
        "http://www.w3.org/2000/svg", ""
    )  # nothing loaded from elsewhere


def test_an_empty_facility_has_a_dashboard_without_charts(client, login_as):
    login_as("admin", "root")
    html = client.get("/admin/dashboard").get_data(as_text=True)
    assert html.count('data-testid="no-data"') == 1  # storage; the queue and month tables list zeros
    assert csv_rows(client, "turnaround")[1] == ["Clearing", "", "", "0"]


def test_only_admins_see_the_dashboard(client, login_as):
    login_as("processing", "pat")
    assert client.get("/admin/dashboard").status_code == 403
    assert client.get("/admin/dashboard/storage.csv").status_code == 403


def test_an_unknown_figure_is_a_404(client, login_as):
    login_as("admin", "root")
    assert client.get("/admin/dashboard/passwords.csv").status_code == 404
