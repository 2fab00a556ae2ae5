"""Time display: stored UTC, shown as `MM/DD/YYYY h:mm AM/PM ZONE` in the facility time zone; a time never
appears without its zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def to_local(value: dt.datetime, tz_name: str) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(ZoneInfo(tz_name))


def format_datetime(value: dt.datetime | None, tz_name: str) -> str:
    """ "03/02/2026 9:15 AM EST": the zone's abbreviation at that moment follows every time."""
    if value is None:
        return ""
    local = to_local(value, tz_name)
    hour = local.hour % 12 or 12
    return f"{local:%m/%d/%Y} {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'} {local:%Z}"


#: the same text; kept for templates that asked for the zone explicitly
format_datetime_zone = format_datetime


def format_date(value: dt.date | None) -> str:
    return "" if value is None else f"{value:%m/%d/%Y}"


def local_to_utc(value: dt.datetime, tz_name: str) -> dt.datetime:
    """A naive time entered in facility time, as naive UTC for storage."""
    aware = value.replace(tzinfo=ZoneInfo(tz_name))
    return aware.astimezone(dt.UTC).replace(tzinfo=None)
