"""Seed the lookup tables from :mod:`schemas.catalogue`.

:func:`seed_lookups` is idempotent: it inserts missing rows and updates catalogue-owned fields that
differ (labels, order, colour, …); running it twice changes nothing. It never deletes rows, and it
leaves facility-owned fields alone once a row exists: ``is_active`` (retiring a protocol or atlas is a
facility decision) and the atlas file paths (deployment configuration).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import catalogue

if TYPE_CHECKING:
    from . import Schemas

__all__ = ["SeedResult", "seed_lookups"]


@dataclass
class SeedResult:
    """Rows inserted and updated per table by one :func:`seed_lookups` call."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when the call wrote anything."""
        return any(self.inserted.values()) or any(self.updated.values())


def _protocol_rows() -> list[dict[str, Any]]:
    return [
        dict(
            protocol=p.protocol,
            label=p.label,
            species_scope=p.species_scope,
            requires_primary_antibody=int(p.requires_primary_antibody),
            has_step_form=int(p.has_step_form),
            colour=p.colour,
            is_active=int(p.is_active),
            sort_order=p.sort_order,
        )
        for p in catalogue.PROTOCOLS
    ]


def _section_rows() -> list[dict[str, Any]]:
    return [
        dict(
            protocol=protocol,
            section_key=s.section_key,
            section_order=s.section_order,
            label=s.label,
            lot_field=s.lot_field,
        )
        for protocol, s in catalogue.iter_sections()
    ]


def _step_rows() -> list[dict[str, Any]]:
    return [
        dict(
            protocol=s.protocol,
            step_key=s.step_key,
            section_key=s.section_key,
            step_order=s.step_order,
            label=s.label,
            notes_max=500,
        )
        for s in catalogue.iter_steps()
    ]


def _atlas_rows() -> list[dict[str, Any]]:
    return [
        dict(
            atlas_name=a.atlas_name,
            label=a.label,
            template_path=a.template_path,
            annotation_path=a.annotation_path,
            voxel_x_um=a.voxel_x_um,
            voxel_y_um=a.voxel_y_um,
            voxel_z_um=a.voxel_z_um,
            precomputed_path=a.precomputed_path,
            is_active=int(a.is_active),
        )
        for a in catalogue.ATLASES
    ]


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, float) or isinstance(stored, float):
        return stored is not None and math.isclose(float(stored), float(wanted), rel_tol=1e-6)
    if isinstance(wanted, (bool, int)) and not isinstance(stored, str):
        return stored is not None and int(stored) == int(wanted)
    return stored == wanted


def _sync(
    table: Any,
    rows: Iterable[Mapping[str, Any]],
    owned: tuple[str, ...],
    result: SeedResult,
) -> None:
    """Insert missing rows of ``table``; update the ``owned`` fields of existing rows that differ."""
    key_names = table.primary_key
    existing = {tuple(r[k] for k in key_names): r for r in table.to_dicts()}
    inserts: list[Mapping[str, Any]] = []
    updated = 0
    for row in rows:
        key = tuple(row[k] for k in key_names)
        stored = existing.get(key)
        if stored is None:
            inserts.append(row)
            continue
        changes = {f: row[f] for f in owned if not _same(stored[f], row[f])}
        if changes:
            table.update1({**{k: row[k] for k in key_names}, **changes})
            updated += 1
    if inserts:
        table.insert(inserts)
    name = table.__class__.__name__
    result.inserted[name] = len(inserts)
    result.updated[name] = updated


def seed_lookups(schemas: Schemas, *, transaction: bool = True) -> SeedResult:
    """Make ``ClearingProtocol``, ``ClearingSection``, ``ClearingStep`` and ``Atlas`` hold the catalogue.

    Runs in one transaction on ``schemas.connection`` (or inside the caller's, when one is open or
    ``transaction=False``).
    """
    ls = schemas.lightsheet
    conn = schemas.connection
    result = SeedResult()
    context = conn.transaction if transaction and not conn.in_transaction else nullcontext()
    with context:
        _sync(
            ls.ClearingProtocol(),
            _protocol_rows(),
            ("label", "species_scope", "requires_primary_antibody", "has_step_form", "colour", "sort_order"),
            result,
        )
        _sync(ls.ClearingSection(), _section_rows(), ("section_order", "label", "lot_field"), result)
        _sync(ls.ClearingStep(), _step_rows(), ("section_key", "step_order", "label"), result)
        _sync(ls.Atlas(), _atlas_rows(), ("label", "voxel_x_um", "voxel_y_um", "voxel_z_um"), result)
    return result
