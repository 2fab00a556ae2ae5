"""The clearing protocol catalogue and the atlases, as plain Python data.

Seed content of the lookup tables ``ClearingProtocol``, ``ClearingSection``, ``ClearingStep``
(transcribed step by step from the facility's protocols; protocols described as "same as X except …" are
expanded in full) and ``Atlas``. :mod:`schemas.seed` writes these rows; the
application may also read them without a database (for example to validate a form's field names).

Pure data: no DataJoint import, no database access.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .enums import ATLAS_LABELS, ATLAS_NAME, LOT_FIELD, SPECIES_SCOPE


@dataclass(frozen=True)
class Protocol:
    """One row of ``ClearingProtocol``."""

    protocol: str  # stored value
    label: str  # shown in forms, queues and e-mails
    species_scope: str  # one of enums.SPECIES_SCOPE
    requires_primary_antibody: bool  # the request form requires antibody1
    has_step_form: bool  # False only for the experimental protocol
    colour: str  # queue row colour, '#RRGGBB'
    is_active: bool  # offered for new requests
    sort_order: int  # order in selects and legends


@dataclass(frozen=True)
class Step:
    """One row of ``ClearingStep`` (without its protocol and section, given by the nesting)."""

    step_order: int  # global order within the protocol, 1..n
    step_key: str  # stored key, unique within the protocol
    label: str  # exact label shown on the form and the log


@dataclass(frozen=True)
class Section:
    """One row of ``ClearingSection`` with its steps."""

    section_order: int  # 1.. within the protocol
    section_key: str  # stored key, unique within the protocol
    label: str  # heading on the form and the log
    lot_field: str  # one of enums.LOT_FIELD: which batch antibody lot is entered in this section
    steps: tuple[Step, ...]  # the section's steps, in order


@dataclass(frozen=True)
class StepRow:
    """A step flattened with its protocol and section, as stored in ``ClearingStep``."""

    protocol: str
    step_key: str
    section_key: str
    step_order: int
    label: str


@dataclass(frozen=True)
class AtlasEntry:
    """One row of ``Atlas``; paths are relative to ``ATLAS_ROOT``."""

    atlas_name: str  # one of enums.ATLAS_NAME
    label: str
    template_path: str  # registration target volume
    annotation_path: str  # 16-bit label volume
    voxel_x_um: float
    voxel_y_um: float
    voxel_z_um: float
    precomputed_path: str  # prebuilt segmentation layer
    is_active: bool


# The seven clearing protocols, in display order, with their colours
# (row colours of the clearing queue, each paired with a text legend).
# fmt: off
PROTOCOLS: tuple[Protocol, ...] = (
    Protocol(
        "idisco_abbreviated",
        "iDISCO for non-oxidizable fluorophores (abbreviated clearing)",
        "non_rat", False, True, "#FCA5A4", True, 1,
    ),
    Protocol(
        "idisco_abbreviated_rat",
        "Rat: iDISCO for non-oxidizable fluorophores (abbreviated clearing)",
        "rat", False, True, "#A4FCAC", True, 2,
    ),
    Protocol("idisco_plus_immuno", "iDISCO+ (immunostaining)", "non_rat", True, True, "#A4FCFA", True, 3),
    Protocol("udisco", "uDISCO", "non_rat", False, True, "#B8C7D9", True, 4),
    Protocol("udisco_rat", "Rat: uDISCO", "rat", False, True, "#FCD2A4", True, 5),
    Protocol("idisco_edu", "iDISCO+ with EdU click chemistry", "non_rat", False, True, "#FCF8A4", True, 6),
    Protocol("experimental", "Experimental (discuss with the facility first)", "any", False, False, "#D9C7FC", True, 7),
)

# Sections and steps per protocol. Every step has a timestamp and notes; every section one date.
# The experimental protocol has no step form, hence no sections and no steps.
SECTIONS: dict[str, tuple[Section, ...]] = {
    # 51 steps
    "idisco_plus_immuno": (
        Section(1, "dehydration", "Dehydration", "none", steps=(
            Step(1, "pbs_wash_1", "1× PBS wash 1 (30 min)"),
            Step(2, "pbs_wash_2", "1× PBS wash 2 (30 min)"),
            Step(3, "pbs_wash_3", "1× PBS wash 3 (30 min)"),
            Step(4, "dehydr_meoh_20", "20% MeOH (1 h)"),
            Step(5, "dehydr_meoh_40", "40% MeOH (1 h)"),
            Step(6, "dehydr_meoh_60", "60% MeOH (1 h)"),
            Step(7, "dehydr_meoh_80", "80% MeOH (1 h)"),
            Step(8, "dehydr_meoh_100_h1", "100% MeOH, hour 1"),
            Step(9, "dehydr_meoh_100_h2", "100% MeOH, hour 2"),
            Step(10, "dehydr_peroxide_on", "5% hydrogen peroxide in MeOH (O/N)"),
        )),
        Section(2, "rehydration", "Rehydration", "none", steps=(
            Step(11, "rehydr_meoh_100", "100% MeOH (1 h)"),
            Step(12, "rehydr_meoh_80", "80% MeOH (1 h)"),
            Step(13, "rehydr_meoh_60", "60% MeOH (1 h)"),
            Step(14, "rehydr_meoh_40", "40% MeOH (1 h)"),
            Step(15, "rehydr_meoh_20", "20% MeOH (1 h)"),
            Step(16, "rehydr_pbs", "1× PBS (1 h)"),
            Step(17, "rehydr_triton_h1", "PBS / Triton X-100 / sodium azide, hour 1"),
            Step(18, "rehydr_triton_h2", "PBS / Triton X-100 / sodium azide, hour 2"),
            Step(19, "rehydr_glycine_37c", "DMSO / glycine / Triton X-100 / sodium azide at 37 °C (2 days)"),
        )),
        Section(3, "blocking", "Blocking", "none", steps=(
            Step(20, "blocking_start_rt", "Sample brought to RT (about 1.5 h)"),
            Step(21, "blocking_serum_37c", "DMSO / donkey serum / Triton X-100 / sodium azide at 37 °C (2–3 days)"),
        )),
        Section(4, "primary_antibody", "Primary antibody", "antibody1", steps=(
            Step(22, "primary_start_rt", "Sample brought to RT (about 1.5 h)"),
            Step(23, "primary_ptwh_h1", "PTwH wash, hour 1"),
            Step(24, "primary_ptwh_h2", "PTwH wash, hour 2"),
            Step(25, "primary_added", "Primary antibody added (37 °C, 7 days)"),
        )),
        Section(5, "wash1", "Wash 1", "none", steps=(
            Step(26, "wash1_start_rt", "Sample brought to RT (about 1.5 h)"),
            Step(27, "wash1_ptwh_10min", "PTwH wash, 10 min"),
            Step(28, "wash1_ptwh_15min", "PTwH wash, 15 min"),
            Step(29, "wash1_ptwh_30min", "PTwH wash, 30 min"),
            Step(30, "wash1_ptwh_1h", "PTwH wash, 1 h"),
            Step(31, "wash1_ptwh_2h", "PTwH wash, 2 h"),
            Step(32, "wash1_ptwh_on", "PTwH wash, O/N"),
        )),
        Section(6, "secondary_antibody", "Secondary antibody", "antibody2", steps=(
            Step(33, "secondary_added", "Secondary antibody solution added (37 °C, 7 days)"),
        )),
        Section(7, "wash2", "Wash 2", "none", steps=(
            Step(34, "wash2_start_rt", "Sample brought to RT (about 1.5 h)"),
            Step(35, "wash2_ptwh_10min", "PTwH wash, 10 min"),
            Step(36, "wash2_ptwh_15min", "PTwH wash, 15 min"),
            Step(37, "wash2_ptwh_30min", "PTwH wash, 30 min"),
            Step(38, "wash2_ptwh_1h", "PTwH wash, 1 h"),
            Step(39, "wash2_ptwh_2h", "PTwH wash, 2 h"),
            Step(40, "wash2_ptwh_on", "PTwH wash, O/N"),
        )),
        Section(8, "clearing", "Clearing", "none", steps=(
            Step(41, "clear_meoh_20", "20% MeOH (1 h)"),
            Step(42, "clear_meoh_40", "40% MeOH (1 h)"),
            Step(43, "clear_meoh_60", "60% MeOH (1 h)"),
            Step(44, "clear_meoh_80", "80% MeOH (1 h)"),
            Step(45, "clear_meoh_100_h1", "100% MeOH, hour 1"),
            Step(46, "clear_meoh_100_h2", "100% MeOH, hour 2"),
            Step(47, "clear_dcm_meoh", "66% DCM / 33% MeOH (3 h)"),
            Step(48, "clear_dcm_1", "100% DCM (15 min), first"),
            Step(49, "clear_dcm_2", "100% DCM (15 min), second"),
            Step(50, "clear_dbe", "100% DBE"),
            Step(51, "clear_new_tubes", "Moved to new tubes with pre-poured DBE (no rocking)"),
        )),
    ),
    # 14 steps
    "idisco_abbreviated": (
        Section(1, "pbs", "PBS wash", "none", steps=(
            Step(1, "pbs_wash_1", "1× PBS wash 1 (30 min)"),
            Step(2, "pbs_wash_2", "1× PBS wash 2 (30 min)"),
            Step(3, "pbs_wash_3", "1× PBS wash 3 (30 min)"),
        )),
        Section(2, "dehydration", "Dehydration and clearing", "none", steps=(
            Step(4, "dehydr_meoh_20", "20% MeOH (1 h)"),
            Step(5, "dehydr_meoh_40", "40% MeOH (1 h)"),
            Step(6, "dehydr_meoh_60", "60% MeOH (1 h)"),
            Step(7, "dehydr_meoh_80", "80% MeOH (1 h)"),
            Step(8, "dehydr_meoh_100_h1", "100% MeOH, hour 1"),
            Step(9, "dehydr_meoh_100_h2", "100% MeOH, hour 2"),
            Step(10, "clear_dcm_meoh", "66% DCM / 33% MeOH (3 h)"),
            Step(11, "clear_dcm_1", "100% DCM (15 min), first"),
            Step(12, "clear_dcm_2", "100% DCM (15 min), second"),
            Step(13, "clear_dbe", "100% DBE"),
            Step(14, "clear_dbe_no_rocking", "100% DBE, no rocking"),
        )),
    ),
    # 14 steps
    "idisco_abbreviated_rat": (
        Section(1, "pbs", "PBS wash", "none", steps=(
            Step(1, "pbs_wash_1", "1× PBS wash 1 (30 min)"),
            Step(2, "pbs_wash_2", "1× PBS wash 2 (30 min)"),
            Step(3, "pbs_wash_3", "1× PBS wash 3 (30 min)"),
        )),
        Section(2, "dehydration", "Dehydration and clearing", "none", steps=(
            Step(4, "dehydr_meoh_20", "20% MeOH (24 h)"),
            Step(5, "dehydr_meoh_40", "40% MeOH (24 h)"),
            Step(6, "dehydr_meoh_60", "60% MeOH (24 h)"),
            Step(7, "dehydr_meoh_80", "80% MeOH (24 h)"),
            Step(8, "dehydr_meoh_100", "100% MeOH (24 h)"),
            Step(9, "dehydr_peroxide", "5% hydrogen peroxide in MeOH"),
            Step(10, "dehydr_meoh_100_second", "100% MeOH, second time"),
            Step(11, "clear_dcm_meoh", "66% DCM / 33% MeOH (24 h)"),
            Step(12, "clear_dcm", "100% DCM (24 h)"),
            Step(13, "clear_dbe", "100% DBE (24 h)"),
            Step(14, "clear_new_tubes", "Moved to new tubes with DBE (no rocking)"),
        )),
    ),
    # 10 steps
    "udisco": (
        Section(1, "dehydration", "Dehydration (t-butanol steps at 35 °C)", "none", steps=(
            Step(1, "pbs_wash", "0.1 M PBS (5 min)"),
            Step(2, "butanol_30", "30% t-butanol (O/N)"),
            Step(3, "butanol_50", "50% t-butanol (10 h)"),
            Step(4, "butanol_70", "70% t-butanol (O/N)"),
            Step(5, "butanol_80", "80% t-butanol (10 h)"),
            Step(6, "butanol_90", "90% t-butanol (O/N)"),
            Step(7, "butanol_96", "96% t-butanol (10 h)"),
            Step(8, "butanol_100", "100% t-butanol (O/N)"),
        )),
        Section(2, "clearing", "Clearing", "none", steps=(
            Step(9, "clear_dcm", "100% DCM (50–70 min)"),
            Step(10, "clear_babb", "BABB-D10 (more than 3 h)"),
        )),
    ),
    # udisco with rat timings: 10 steps
    "udisco_rat": (
        Section(1, "dehydration", "Dehydration (t-butanol steps at 35 °C)", "none", steps=(
            Step(1, "pbs_wash", "0.1 M PBS (30 min)"),
            Step(2, "butanol_30", "30% t-butanol (24 h)"),
            Step(3, "butanol_50", "50% t-butanol (24 h)"),
            Step(4, "butanol_70", "70% t-butanol (24 h)"),
            Step(5, "butanol_80", "80% t-butanol (24 h)"),
            Step(6, "butanol_90", "90% t-butanol (24 h)"),
            Step(7, "butanol_96", "96% t-butanol (24 h)"),
            Step(8, "butanol_100", "100% t-butanol (24 h)"),
        )),
        Section(2, "clearing", "Clearing", "none", steps=(
            Step(9, "clear_dcm", "100% DCM (2.5–3 h)"),
            Step(10, "clear_babb", "BABB-D15 (more than 3 h)"),
        )),
    ),
    # expanded in full from idisco_plus_immuno: 43 steps
    "idisco_edu": (
        Section(1, "dehydration", "Dehydration", "none", steps=(
            Step(1, "pbs_wash_1", "1× PBS wash 1 (30 min)"),
            Step(2, "pbs_wash_2", "1× PBS wash 2 (30 min)"),
            Step(3, "pbs_wash_3", "1× PBS wash 3 (30 min)"),
            Step(4, "dehydr_meoh_20", "20% MeOH (1 h)"),
            Step(5, "dehydr_meoh_40", "40% MeOH (1 h)"),
            Step(6, "dehydr_meoh_60", "60% MeOH (1 h)"),
            Step(7, "dehydr_meoh_80", "80% MeOH (1 h)"),
            Step(8, "dehydr_meoh_100_h1", "100% MeOH, hour 1"),
            Step(9, "dehydr_meoh_100_h2", "100% MeOH, hour 2"),
            Step(10, "dehydr_peroxide_on", "5% hydrogen peroxide in MeOH (O/N)"),
        )),
        Section(2, "rehydration", "Rehydration", "none", steps=(
            Step(11, "rehydr_meoh_100", "100% MeOH (1 h)"),
            Step(12, "rehydr_meoh_80", "80% MeOH (1 h)"),
            Step(13, "rehydr_meoh_60", "60% MeOH (1 h)"),
            Step(14, "rehydr_meoh_40", "40% MeOH (1 h)"),
            Step(15, "rehydr_meoh_20", "20% MeOH (1 h)"),
            Step(16, "rehydr_pbs", "1× PBS (1 h)"),
            Step(17, "rehydr_triton_h1", "PBS / Triton X-100 / sodium azide, hour 1"),
            Step(18, "rehydr_triton_h2", "PBS / Triton X-100 / sodium azide, hour 2"),
            Step(19, "rehydr_glycine_37c", "DMSO / glycine / Triton X-100 / sodium azide at 37 °C (2 days)"),
        )),
        Section(3, "wash1", "Wash 1", "none", steps=(
            Step(20, "wash1_start_rt", "Sample brought to RT (about 1.5 h)"),
            Step(21, "wash1_ptwh_10min", "PTwH wash, 10 min"),
            Step(22, "wash1_ptwh_15min", "PTwH wash, 15 min"),
            Step(23, "wash1_ptwh_30min", "PTwH wash, 30 min"),
            Step(24, "wash1_ptwh_1h", "PTwH wash, 1 h"),
            Step(25, "wash1_ptwh_2h", "PTwH wash, 2 h"),
        )),
        Section(4, "edu_click", "EdU click chemistry", "none", steps=(
            Step(26, "edu_click_chemistry", "EdU click-chemistry reaction"),
        )),
        Section(5, "wash2", "Wash 2", "none", steps=(
            Step(27, "wash2_start_rt", "Sample brought to RT (about 1.5 h)"),
            Step(28, "wash2_ptwh_10min", "PTwH wash, 10 min"),
            Step(29, "wash2_ptwh_15min", "PTwH wash, 15 min"),
            Step(30, "wash2_ptwh_30min", "PTwH wash, 30 min"),
            Step(31, "wash2_ptwh_1h", "PTwH wash, 1 h"),
            Step(32, "wash2_ptwh_2h", "PTwH wash, 2 h"),
        )),
        Section(6, "clearing", "Clearing", "none", steps=(
            Step(33, "clear_meoh_20", "20% MeOH (1 h)"),
            Step(34, "clear_meoh_40", "40% MeOH (1 h)"),
            Step(35, "clear_meoh_60", "60% MeOH (1 h)"),
            Step(36, "clear_meoh_80", "80% MeOH (1 h)"),
            Step(37, "clear_meoh_100_h1", "100% MeOH, hour 1"),
            Step(38, "clear_meoh_100_h2", "100% MeOH, hour 2"),
            Step(39, "clear_dcm_meoh", "66% DCM / 33% MeOH (3 h)"),
            Step(40, "clear_dcm_1", "100% DCM (15 min), first"),
            Step(41, "clear_dcm_2", "100% DCM (15 min), second"),
            Step(42, "clear_dbe", "100% DBE"),
            Step(43, "clear_new_tubes", "Moved to new tubes with pre-poured DBE (no rocking)"),
        )),
    ),
    "experimental": (),
}
# fmt: on

#: number of steps per protocol, as the facility's protocols state them (checked below)
EXPECTED_STEP_COUNTS = {
    "idisco_plus_immuno": 51,
    "idisco_abbreviated": 14,
    "idisco_abbreviated_rat": 14,
    "udisco": 10,
    "udisco_rat": 10,
    "idisco_edu": 43,
    "experimental": 0,
}


def _atlas(name: str, voxel_um: tuple[float, float, float]) -> AtlasEntry:
    return AtlasEntry(
        atlas_name=name,
        label=ATLAS_LABELS[name],
        template_path=f"{name}/template.tif",
        annotation_path=f"{name}/annotation.tif",
        voxel_x_um=voxel_um[0],
        voxel_y_um=voxel_um[1],
        voxel_z_um=voxel_um[2],
        precomputed_path=f"{name}/precomputed",
        is_active=True,
    )


# Allen 25/25/25 µm, Princeton Mouse Brain Atlas 20/20/20, Paxinos 10/100/10.
ATLASES: tuple[AtlasEntry, ...] = (
    _atlas("allen_2017", (25.0, 25.0, 25.0)),
    _atlas("allen_2011", (25.0, 25.0, 25.0)),
    _atlas("princeton_mouse_atlas", (20.0, 20.0, 20.0)),
    _atlas("paxinos", (10.0, 100.0, 10.0)),
)


# --- accessors ---------------------------------------------------------------------------------------

PROTOCOL_BY_VALUE: dict[str, Protocol] = {p.protocol: p for p in PROTOCOLS}
PROTOCOL_LABELS: dict[str, str] = {p.protocol: p.label for p in PROTOCOLS}


def iter_sections() -> Iterator[tuple[str, Section]]:
    """Yield ``(protocol, section)`` for every section of every protocol, in catalogue order."""
    for protocol in PROTOCOLS:
        for section in SECTIONS[protocol.protocol]:
            yield protocol.protocol, section


def iter_steps(protocol: str | None = None) -> Iterator[StepRow]:
    """Yield every step (of one protocol, or of all) flattened as stored in ``ClearingStep``."""
    for proto, section in iter_sections():
        if protocol is None or proto == protocol:
            for step in section.steps:
                yield StepRow(proto, step.step_key, section.section_key, step.step_order, step.label)


def steps_of(protocol: str) -> tuple[StepRow, ...]:
    """The steps of one protocol in global order."""
    return tuple(iter_steps(protocol))


def _check() -> None:
    """Structural self-check of the transcription (pure Python, run at import)."""
    assert set(SECTIONS) == set(PROTOCOL_BY_VALUE), "every protocol needs a SECTIONS entry"
    assert len({p.colour.upper() for p in PROTOCOLS}) == len(PROTOCOLS), "protocol colours must differ"
    assert [p.sort_order for p in PROTOCOLS] == list(range(1, len(PROTOCOLS) + 1))
    for p in PROTOCOLS:
        assert p.species_scope in SPECIES_SCOPE, p
        sections = SECTIONS[p.protocol]
        assert [s.section_order for s in sections] == list(range(1, len(sections) + 1)), p.protocol
        assert len({s.section_key for s in sections}) == len(sections), p.protocol
        assert all(s.lot_field in LOT_FIELD and s.steps for s in sections), p.protocol
        steps = steps_of(p.protocol)
        assert len(steps) == EXPECTED_STEP_COUNTS[p.protocol], (p.protocol, len(steps))
        assert [s.step_order for s in steps] == list(range(1, len(steps) + 1)), p.protocol
        assert len({s.step_key for s in steps}) == len(steps), p.protocol
        assert all(len(s.step_key) <= 64 and len(s.label) <= 200 for s in steps), p.protocol
        assert p.has_step_form == bool(steps), p.protocol
    assert tuple(a.atlas_name for a in ATLASES) == ATLAS_NAME


_check()
