"""The protocol catalogue as the clearing pages use it, read from the seeded lookup tables
(`ClearingProtocol`, `ClearingSection`, `ClearingStep`): forms, logs and validation are all driven by it,
so no protocol needs its own template or code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from flask import g

from lightserv.db import get_schemas


@dataclass(frozen=True)
class StepDef:
    key: str
    label: str
    order: int  # global order within the protocol, 1..n
    section_key: str
    notes_max: int


@dataclass(frozen=True)
class SectionDef:
    key: str
    label: str
    order: int
    lot_field: str  # "none", "antibody1" or "antibody2"
    steps: tuple[StepDef, ...]


@dataclass(frozen=True)
class ProtocolDef:
    protocol: str
    label: str
    colour: str
    has_step_form: bool
    sections: tuple[SectionDef, ...]

    @cached_property
    def steps(self) -> tuple[StepDef, ...]:
        return tuple(step for section in self.sections for step in section.steps)

    @cached_property
    def lot_fields(self) -> tuple[str, ...]:
        return tuple(s.lot_field for s in self.sections if s.lot_field != "none")

    def next_step(self, key: str) -> StepDef | None:
        keys = [s.key for s in self.steps]
        index = keys.index(key)
        return self.steps[index + 1] if index + 1 < len(keys) else None


def load_protocol(protocol: str) -> ProtocolDef:
    """One protocol with its sections and steps, in order (three small queries, once per HTTP request)."""
    cache = g.setdefault("_clearing_catalogue", {})
    if protocol in cache:
        return cache[protocol]
    ls = get_schemas().lightsheet
    key = {"protocol": protocol}
    head = (ls.ClearingProtocol & key).to_dicts()[0]
    steps = (ls.ClearingStep & key).to_dicts(order_by=["step_order"])
    sections = []
    for row in (ls.ClearingSection & key).to_dicts(order_by=["section_order"]):
        own = tuple(
            StepDef(s["step_key"], s["label"], s["step_order"], s["section_key"], s["notes_max"])
            for s in steps
            if s["section_key"] == row["section_key"]
        )
        sections.append(SectionDef(row["section_key"], row["label"], row["section_order"], row["lot_field"], own))
    found = ProtocolDef(
        protocol=protocol,
        label=head["label"],
        colour=head["colour"],
        has_step_form=bool(head["has_step_form"]),
        sections=tuple(sections),
    )
    cache[protocol] = found
    return found
