"""The clearing log of every protocol, its layouts and CSV, and the iCalendar export
of section dates."""

from __future__ import annotations

import csv
import html as htmlmod
import io

import pytest

from schemas.catalogue import PROTOCOL_LABELS, SECTIONS, steps_of
from tests.clearing.conftest import ALL_PROTOCOLS, batch_url, login


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_the_log_of_every_protocol_shows_every_step_and_the_owner_can_read_it(
    app, client, started, act, entry_form, protocol
):
    owner, _ = started(protocol)
    fields, _, _ = entry_form(owner, "brains")
    steps = steps_of(protocol)
    if steps:
        fields[f"step-{steps[0].step_key}-time"] = "2026-03-02T09:15"
        fields[f"step-{steps[0].step_key}-notes"] = "all good"
    else:
        fields["link"] = "https://sheets.example.org/d/xyz"
    act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "all"})
    login(client, owner)
    resp = client.get(batch_url(owner, "brains", 1, "/log"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f"Clearing log — {htmlmod.escape(PROTOCOL_LABELS[protocol])}" in html
    for section in SECTIONS[protocol]:
        assert f'data-testid="log-section-{section.section_key}"' in html
    for step in steps:
        assert htmlmod.escape(step.label) in html
    if steps:
        assert "03/02/2026 9:15 AM" in html and "all good" in html
    else:
        assert 'data-testid="spreadsheet-link"' in html and "https://sheets.example.org/d/xyz" in html


def test_the_log_switches_between_vertical_and_horizontal_step_tables(app, client, started):
    owner, _ = started("udisco")
    vertical = client.get(batch_url(owner, "brains", 1, "/log")).get_data(as_text=True)
    assert 'data-layout="vertical"' in vertical and "Show steps horizontally" in vertical
    horizontal = client.get(batch_url(owner, "brains", 1, "/log?layout=horizontal")).get_data(as_text=True)
    assert 'data-layout="horizontal"' in horizontal and 'data-layout="vertical"' not in horizontal
    assert "Show steps vertically" in horizontal


def test_the_log_downloads_one_csv_row_per_step(app, client, started, act, entry_form):
    owner, _ = started("idisco_edu")
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"step-edu_click_chemistry-time": "2026-03-02T13:05", "step-edu_click_chemistry-notes": "30 min, RT"})
    act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "step:edu_click_chemistry"})
    skipped = {"step-pbs_wash_1-skipped": "1", "step-pbs_wash_1-skip-reason": "fixed brains, no wash"}
    assert act(batch_url(owner, "brains", 1, "/save"), {**fields, **skipped, "group": "all"}).status_code == 303
    resp = client.get(batch_url(owner, "brains", 1, "/log.csv"))
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["section", "step_key", "label", "timestamp", "notes", "skip_reason"]
    assert len(rows) == 1 + 43
    assert [
        "EdU click chemistry",
        "edu_click_chemistry",
        "EdU click-chemistry reaction",
        "2026-03-02 13:05",
        "30 min, RT",
        "",
    ] in rows
    assert [r[3:] for r in rows if r[1] == "pbs_wash_1"] == [["", "", "fixed brains, no wash"]]
    log = client.get(batch_url(owner, "brains", 1, "/log")).get_data(as_text=True)
    assert "Skipped</span>" in log and "fixed brains, no wash" in log


def test_a_saved_section_date_exports_as_an_all_day_event_with_two_alarms(
    app, client, started, act, entry_form, settings
):
    owner, clearer = started("idisco_plus_immuno")
    fields, _, html = entry_form(owner, "brains")
    assert 'data-testid="calendar-dehydration"' not in html  # no link before a date is saved
    fields.update({"section-dehydration-date": "2030-01-15", "section-blocking-date": "2030-01-20"})
    act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "all"})
    _, _, html = entry_form(owner, "brains")
    assert 'data-testid="calendar-dehydration"' in html
    resp = client.get(batch_url(owner, "brains", 1, "/calendar.ics?section=dehydration"))
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    text = resp.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    unfolded = text.replace("\r\n ", "")
    lines = unfolded.split("\r\n")
    assert lines.count("BEGIN:VEVENT") == 1
    assert "DTSTART;VALUE=DATE:20300115" in lines and "DTEND;VALUE=DATE:20300116" in lines
    assert "SUMMARY:ana iDISCO+ (immunostaining) Dehydration" in lines
    assert f"X-WR-TIMEZONE:{settings.display_timezone}" in lines and f"TZID:{settings.display_timezone}" in lines
    assert "TRIGGER:-PT24H" in lines and "ACTION:EMAIL" in lines and f"ATTENDEE:mailto:{clearer}@test.example" in lines
    assert "TRIGGER:-PT10M" in lines and "ACTION:DISPLAY" in lines
    assert any(
        line.startswith("DESCRIPTION:") and "https://lightserv.test.example/requests/ana/brains" in line
        for line in lines
    )
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    whole = client.get(batch_url(owner, "brains", 1, "/calendar.ics")).get_data(as_text=True)
    assert whole.count("BEGIN:VEVENT") == 2
    assert client.get(batch_url(owner, "brains", 1, "/calendar.ics?section=wash1")).status_code == 404
