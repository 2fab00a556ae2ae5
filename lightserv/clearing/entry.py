"""The clearing entry form, generated from the catalogue.

The form is made of *groups*, each saved on its own: a step (timestamp and notes, or "skipped" with the
reason), a section date, an
antibody lot, experiment notes, facility notes and, for the experimental protocol, the spreadsheet link.
Every group carries a token of the stored row it was loaded from (`updated_at`, `updated_by` and a
digest of the loaded values). A save compares it with the row as stored now, so a newer value written by
someone else is never overwritten silently, and the digest tells which groups the user
actually edited when "Save all changes" posts the whole form.

Pure functions: no database access. Field values are the strings the browser sends and receives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from lightserv.common.timefmt import local_to_utc, to_local

from .catalogue import ProtocolDef, StepDef

NOTES_MAX = 1000  # experiment and facility notes
SKIP_REASON_MAX = 500
LOT_MAX = 64
LINK_MAX = 512
FUTURE_TOLERANCE = dt.timedelta(hours=1)
TIME_FORMAT = "%Y-%m-%dT%H:%M"

FUTURE_MESSAGE = "The time cannot be in the future."
EARLIER_MESSAGE = "Earlier than the previous step."
SKIP_REASON_MESSAGE = "Give the reason this step was skipped."
SKIPPED_WITH_TIME_MESSAGE = "A skipped step has no time: clear the time or untick “Skipped”."
UNRECORDED_MESSAGE = "Enter the time of this step, or tick “Skipped” and give the reason."
LINK_REQUIRED_MESSAGE = "Enter the link to the clearing spreadsheet."
CONFLICT_MESSAGE = "This entry was changed by {user} at {time}. Reload to see the current value."

#: event action of a saved group, by kind
EVENT_OF_KIND = {
    "step": "clearing.step_saved",
    "section": "clearing.section_date_saved",
    "lot": "clearing.lot_saved",
    "batch": "clearing.notes_saved",
}
BATCH_COLUMN = {
    "exp_notes": "exp_notes",
    "clearing_notes": "clearing_notes",
    "link": "link_to_clearing_spreadsheet",
    "lot:antibody1": "antibody1_lot",
    "lot:antibody2": "antibody2_lot",
}


@dataclass(frozen=True)
class Group:
    name: str  # "step:<key>", "section:<key>", "lot:antibody1", "exp_notes", "clearing_notes", "link"
    kind: str  # "step", "section", "lot", "batch"
    key: str  # step key, section key, or the batch column
    label: str
    fields: tuple[str, ...]  # input names
    anchor: str  # id of the element holding the group's inputs (focus target)

    @property
    def token_field(self) -> str:
        return f"{self.anchor}-v"


def groups_of(proto: ProtocolDef) -> dict[str, Group]:
    """Every group of the protocol's form, in page order."""
    groups: dict[str, Group] = {
        "exp_notes": Group("exp_notes", "batch", "exp_notes", "Experiment notes", ("exp_notes",), "exp-notes")
    }
    if not proto.has_step_form:
        groups["link"] = Group(
            "link", "batch", "link_to_clearing_spreadsheet", "Link to the clearing spreadsheet", ("link",), "link"
        )
    for section in proto.sections:
        groups[f"section:{section.key}"] = Group(
            f"section:{section.key}",
            "section",
            section.key,
            f"{section.label}: section date",
            (f"section-{section.key}-date",),
            f"section-{section.key}",
        )
        if section.lot_field != "none":
            name = f"lot:{section.lot_field}"
            groups[name] = Group(
                name,
                "lot",
                BATCH_COLUMN[name],
                f"{section.label}: lot code",
                (f"lot-{section.lot_field}",),
                f"lot-{section.lot_field}",
            )
        for step in section.steps:
            groups[f"step:{step.key}"] = Group(
                f"step:{step.key}",
                "step",
                step.key,
                f"Step {step.order}: {step.label}",
                tuple(f"step-{step.key}-{part}" for part in ("time", "notes", "skipped", "skip-reason")),
                f"step-{step.key}",
            )
    groups["clearing_notes"] = Group(
        "clearing_notes", "batch", "clearing_notes", "Clearing facility notes", ("clearing_notes",), "clearing-notes"
    )
    return groups


def allowed_fields(groups: dict[str, Group]) -> set[str]:
    names = {"csrf_token", "group"}
    for group in groups.values():
        names.update(group.fields)
        names.add(group.token_field)
    return names


# --- canonical values, digests and tokens --------------------------------------------------------------


def _text(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def parse_time(value: str) -> dt.datetime | None:
    """A facility-local `datetime-local` value; None when blank; ValueError when invalid."""
    value = (value or "").strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S.%f"):
        try:
            return dt.datetime.strptime(value, fmt).replace(second=0, microsecond=0)
        except ValueError:
            continue
    raise ValueError(value)


def parse_date(value: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    return dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _bad(value)


def _bad(value):
    raise ValueError(value)


def canonical(group: Group, form: dict) -> tuple[str, ...]:
    """The group's submitted values, normalised so that equal meanings compare equal."""
    if group.kind == "step":
        raw_time, notes = form.get(group.fields[0], ""), _text(form.get(group.fields[1], ""))
        try:
            parsed = parse_time(raw_time)
            time = parsed.strftime(TIME_FORMAT) if parsed else ""
        except ValueError:
            time = "invalid:" + raw_time
        skipped = "1" if form.get(group.fields[2]) else ""
        return (time, notes, skipped, _text(form.get(group.fields[3], "")) if skipped else "")
    if group.kind == "section":
        raw = form.get(group.fields[0], "")
        try:
            parsed = parse_date(raw)
            return (parsed.isoformat() if parsed else "",)
        except ValueError:
            return ("invalid:" + raw,)
    return (_text(form.get(group.fields[0], "")),)


def digest(values: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:16]


def make_token(updated_at: dt.datetime | None, updated_by: str | None, values: tuple[str, ...]) -> str:
    stamp = updated_at.strftime("%Y-%m-%dT%H:%M:%S") if updated_at else "new"
    return f"{stamp}~{updated_by or ''}~{digest(values)}"


def token_digest(token: str) -> str:
    return token.rsplit("~", 1)[-1]


@dataclass(frozen=True)
class Stored:
    """What is stored now for each group: its form values and token, and who changed it when."""

    values: dict[str, str]  # input name -> value
    canonical: dict[str, tuple[str, ...]]  # group -> canonical values
    tokens: dict[str, str]  # group -> token
    changed: dict[str, tuple[str | None, dt.datetime | None]]  # group -> (updated_by, updated_at)


def stored_state(
    groups: dict[str, Group], batch: dict, entries: dict[str, dict], dates: dict[str, dict], tz: str
) -> Stored:
    """`entries`: step key -> ClearingStepEntry row; `dates`: section key -> ClearingSectionDate row."""
    values: dict[str, str] = {}
    canon: dict[str, tuple[str, ...]] = {}
    tokens: dict[str, str] = {}
    changed: dict[str, tuple[str | None, dt.datetime | None]] = {}
    for name, group in groups.items():
        if group.kind == "step":
            row = entries.get(group.key)
            time = to_local(row["step_time"], tz).strftime(TIME_FORMAT) if row and row["step_time"] else ""
            notes = row["step_notes"] if row else ""
            reason = row["skip_reason"] if row else ""
            skipped = "1" if reason else ""
            values.update(zip(group.fields, (time, notes, skipped, reason), strict=True))
            canon[name] = (time, _text(notes), skipped, _text(reason))
            by, at = (row["updated_by"], row["updated_at"]) if row else (None, None)
        elif group.kind == "section":
            row = dates.get(group.key)
            day = row["section_date"].isoformat() if row and row["section_date"] else ""
            values[group.fields[0]] = day
            canon[name] = (day,)
            by, at = (row["updated_by"], row["updated_at"]) if row else (None, None)
        else:
            text = batch.get(BATCH_COLUMN.get(name, name)) or ""
            values[group.fields[0]] = text
            canon[name] = (_text(text),)
            by, at = None, None
        tokens[name] = (
            make_token(at, by, canon[name]) if group.kind in ("step", "section") else f"batch~~{digest(canon[name])}"
        )
        changed[name] = (by, at)
    return Stored(values, canon, tokens, changed)


# --- validation --------------------------------------------------------------------------------------


def validate(
    group: Group, values: tuple[str, ...], proto: ProtocolDef, now_utc: dt.datetime, tz: str
) -> tuple[dict, list[str]]:
    """(database columns to write, error messages) for one group's canonical values."""
    errors: list[str] = []
    if group.kind == "step":
        time_text, notes, skipped, reason = values
        step = next(s for s in proto.steps if s.key == group.key)
        step_time = None
        if time_text.startswith("invalid:"):
            errors.append("Enter a valid date and time.")
        elif time_text:
            step_time = local_to_utc(dt.datetime.strptime(time_text, TIME_FORMAT), tz)
            if step_time > now_utc + FUTURE_TOLERANCE:
                errors.append(FUTURE_MESSAGE)
        if len(notes) > step.notes_max:
            errors.append(f"Notes can be at most {step.notes_max} characters.")
        if skipped:
            if time_text:
                errors.append(SKIPPED_WITH_TIME_MESSAGE)
            if not reason:
                errors.append(SKIP_REASON_MESSAGE)
            elif len(reason) > SKIP_REASON_MAX:
                errors.append(f"The reason can be at most {SKIP_REASON_MAX} characters.")
        return {"step_time": step_time, "step_notes": notes, "skip_reason": reason}, errors
    if group.kind == "section":
        (day,) = values
        if day.startswith("invalid:"):
            return {}, ["Enter a valid date."]
        return {"section_date": dt.date.fromisoformat(day) if day else None}, errors
    (text,) = values
    if group.kind == "lot":
        if len(text) > LOT_MAX:
            errors.append(f"The lot code can be at most {LOT_MAX} characters.")
        return {group.key: text or None}, errors
    if group.name == "link":
        if not text:
            errors.append(LINK_REQUIRED_MESSAGE)
        elif len(text) > LINK_MAX:
            errors.append(f"The link can be at most {LINK_MAX} characters.")
        else:
            parts = urlparse(text)
            if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
                errors.append("Enter a web address starting with https:// or http://.")
        return {group.key: text or None}, errors
    if len(text) > NOTES_MAX:
        errors.append(f"Notes can be at most {NOTES_MAX} characters.")
    return {group.key: text}, errors


def out_of_order(proto: ProtocolDef, values: dict[str, str]) -> dict[str, StepDef]:
    """Step key -> the previous timed step it is earlier than (a warning, never a refusal). Blank and
    skipped steps are passed over."""
    flagged: dict[str, StepDef] = {}
    previous: tuple[StepDef, dt.datetime] | None = None
    for step in proto.steps:
        try:
            current = parse_time(values.get(f"step-{step.key}-time", ""))
        except ValueError:
            continue
        if current is None:
            continue
        if previous is not None and current < previous[1]:
            flagged[step.key] = previous[0]
        previous = (step, current)
    return flagged


def order_warnings(proto: ProtocolDef, values: dict[str, str]) -> list[str]:
    """One sentence per step that is earlier than the step timed before it, naming both."""
    steps = {s.key: s for s in proto.steps}
    return [
        f"Step {steps[key].order} ({steps[key].label}) is earlier than step {prev.order} ({prev.label})."
        for key, prev in out_of_order(proto, values).items()
    ]


def is_recorded(step: StepDef, values: dict[str, str]) -> bool:
    """A step is recorded when it has a time, or is ticked "skipped" with a reason."""
    has_time = bool(values.get(f"step-{step.key}-time"))
    skipped = bool(values.get(f"step-{step.key}-skipped")) and bool(_text(values.get(f"step-{step.key}-skip-reason")))
    return has_time or skipped


def unrecorded_steps(proto: ProtocolDef, values: dict[str, str]) -> dict[str, list[str]]:
    """Group name -> message for every step that is not recorded (completing the batch needs none)."""
    return {f"step:{s.key}": [UNRECORDED_MESSAGE] for s in proto.steps if not is_recorded(s, values)}


def blank_section_dates(proto: ProtocolDef, values: dict[str, str]) -> list[str]:
    """Labels of the sections without a date (allowed; shown before completing)."""
    return [f"{s.label}: section date" for s in proto.sections if not values.get(f"section-{s.key}-date")]
