"""A small iCalendar (RFC 5545) writer for section dates: all-day events with two alarms, and a
VTIMEZONE for the facility time zone built from the zoneinfo database. No Flask, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

PRODID = "-//lightserv//clearing section dates//EN"


@dataclass(frozen=True)
class AllDayEvent:
    uid: str
    day: dt.date
    summary: str
    description: str
    url: str
    alarm_email: str = ""  # recipient of the 24 h e-mail alarm; without one it is a display alarm too


def escape_text(value: str) -> str:
    """TEXT value escaping (RFC 5545 §3.3.11)."""
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets (RFC 5545 §3.1), never inside a character."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not out else 74):
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _utc_stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[dt.datetime, dt.timedelta, dt.timedelta, bool, str]]:
    """(local onset, offset before, offset after, is_daylight, name) for each transition in `year`."""
    found = []
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    previous = start.astimezone(zone).utcoffset()
    moment = start
    while moment.year == year:
        following = moment + dt.timedelta(days=1)
        if following.astimezone(zone).utcoffset() != previous:
            probe = moment
            while probe.astimezone(zone).utcoffset() == previous:
                probe += hour
            after = probe.astimezone(zone)
            onset = (probe.astimezone(dt.UTC) + previous).replace(tzinfo=None)
            found.append((onset, previous, after.utcoffset(), bool(after.dst()), after.tzname() or ""))
            previous = after.utcoffset()
        moment = following
    return found


def vtimezone(tz_name: str, years: set[int]) -> list[str]:
    zone = ZoneInfo(tz_name)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tz_name}", f"X-LIC-LOCATION:{tz_name}"]
    changes = [t for year in sorted({y for x in years for y in (x - 1, x)}) for t in _transitions(zone, year)]
    if not changes:
        sample = dt.datetime(min(years), 1, 1, tzinfo=zone)
        offset = _offset(sample.utcoffset())
        changes_lines = [
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}",
            f"TZNAME:{sample.tzname()}",
            "END:STANDARD",
        ]
        return lines + changes_lines + ["END:VTIMEZONE"]
    for onset, before, after, daylight, name in changes:
        kind = "DAYLIGHT" if daylight else "STANDARD"
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{onset:%Y%m%dT%H%M%S}",
            f"TZOFFSETFROM:{_offset(before)}",
            f"TZOFFSETTO:{_offset(after)}",
            f"TZNAME:{name}",
            f"END:{kind}",
        ]
    return lines + ["END:VTIMEZONE"]


def calendar(events: list[AllDayEvent], tz_name: str, now: dt.datetime) -> str:
    """The whole VCALENDAR as text with CRLF line endings."""
    stamp = _utc_stamp(now if now.tzinfo else now.replace(tzinfo=dt.UTC))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-TIMEZONE:{tz_name}",
    ]
    if events:
        lines += vtimezone(tz_name, {e.day.year for e in events})
    for event in events:
        summary, description = escape_text(event.summary), escape_text(event.description)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{event.day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{event.day + dt.timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{summary}",
            f"DESCRIPTION:{description}",
            f"URL:{event.url}",
            "TRANSP:TRANSPARENT",
            "BEGIN:VALARM",
        ]
        if event.alarm_email:
            lines += [
                "ACTION:EMAIL",
                "TRIGGER:-PT24H",
                f"SUMMARY:{summary}",
                f"DESCRIPTION:{description}",
                f"ATTENDEE:mailto:{event.alarm_email}",
            ]
        else:
            lines += ["ACTION:DISPLAY", "TRIGGER:-PT24H", f"DESCRIPTION:{summary}"]
        lines += [
            "END:VALARM",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "TRIGGER:-PT10M",
            f"DESCRIPTION:{summary}",
            "END:VALARM",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
