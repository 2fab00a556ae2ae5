"""What a new request asks for, its validation and its batching.

Plain data and pure functions: the form layer builds a `NewRequest`, `validate_new_request` returns
every error keyed by the form field name it belongs to, and `plan_batches` decides the clearing and
imaging batches. The service writes what these decide.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from schemas.enums import (
    CHANNELS_OF_MICROSCOPE,
    MICROSCOPE_OF_RESOLUTION,
    PROCESSABLE_RESOLUTIONS,
    RETENTION_PREFERENCE,
    SPECIES,
)

REQUEST_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
SAMPLE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
PURPOSES = ("registration", "injection_detection", "probe_detection", "cell_detection", "generic_imaging")
DETECTIONS = ("injection_detection", "probe_detection", "cell_detection")
ATLAS_RESOLUTIONS = ("1.1x", "1.3x", "4x")  # resolutions with atlas and output orientation fields
MAX_SAMPLES = 50
MAX_AUDITORS = 10
# a sample's messages do not name the sample: the form puts them next to the field, in the sample's section
NO_CHANNEL_MESSAGE = "Choose at least one channel: tick what it is for."
HANDOFF_MESSAGE = "Expected hand-off date is required, unless you will clear the samples yourself."
RAT_PROTOCOLS_MESSAGE = "Rat samples need one of: iDISCO abbreviated clearing (rat), uDISCO (rat), experimental."

DEFAULT_REGISTRATION_CHANNELS = {"lavision": ("488", "555"), "smartspim": ("488", "561", "642", "785")}


@dataclass
class ChannelWish:
    channel_name: str
    registration: bool = False
    injection_detection: bool = False
    probe_detection: bool = False
    cell_detection: bool = False
    generic_imaging: bool = False

    @property
    def has_purpose(self) -> bool:
        return any(getattr(self, p) for p in PURPOSES)


@dataclass
class ResolutionWish:
    image_resolution: str
    channels: list[ChannelWish] = field(default_factory=list)
    notes_for_imager: str = ""
    notes_for_processor: str = ""
    atlas_name: str = "allen_2017"
    final_orientation: str = "sagittal"

    @property
    def microscope(self) -> str:
        return MICROSCOPE_OF_RESOLUTION[self.image_resolution]

    def requested_channels(self) -> list[ChannelWish]:
        return [c for c in self.channels if c.has_purpose]


@dataclass
class SampleWish:
    sample_name: str
    clearing_protocol: str
    subject_fullname: str = ""
    antibody1: str = ""
    antibody2: str = ""
    perfusion_date: dt.date | None = None
    expected_handoff_date: dt.date | None = None
    notes_for_clearer: str = ""
    resolutions: list[ResolutionWish] = field(default_factory=list)

    def signature(self) -> dict[str, list[str]]:
        """Resolution -> sorted wavelengths with at least one purpose."""
        return {
            r.image_resolution: sorted(c.channel_name for c in r.requested_channels())
            for r in sorted(self.resolutions, key=lambda r: r.image_resolution)
        }


@dataclass
class NewRequest:
    owner: str
    request_name: str
    description: str
    labname: str
    correspondence_email: str
    species: str
    number_of_samples: int
    raw_data_retention_preference: str
    testing: bool = False
    self_clearing: bool = False
    self_imaging: bool = False
    auditors: list[str] = field(default_factory=list)
    samples: list[SampleWish] = field(default_factory=list)


@dataclass(frozen=True)
class Catalogue:
    """What the validator needs to know from the database."""

    protocols: dict[str, dict]  # protocol -> {species_scope, requires_primary_antibody, label, is_active}
    active_atlases: frozenset[str]
    registration_channels: dict[str, tuple[str, ...]]
    existing_request_names: frozenset[str]  # lower-cased names of the owner's requests
    known_subjects: frozenset[str] | None = None  # None: no subject directory configured
    named_users: frozenset[str] = frozenset()  # the active users among the names on the form


def duplicate_resolution_message(resolution: str) -> str:
    return f"Resolution {resolution} is already set up for this sample."


def unknown_user_message(name: str) -> str:
    """A name typed on a form that is not an active user (a typed name never creates one)."""
    return f"No active user is named '{name}'. Choose a name from the suggestions."


class Errors(OrderedDict):
    """field name -> list of messages, in form order."""

    def add(self, name: str, message: str) -> None:
        self.setdefault(name, [])
        if message not in self[name]:
            self[name].append(message)


def protocol_options(species: str, catalogue: Catalogue) -> list[str]:
    """Active protocols offered for a species, in catalogue order."""
    scopes = {"rat", "any"} if species == "rat" else {"non_rat", "any"}
    return [p for p, row in catalogue.protocols.items() if row["is_active"] and row["species_scope"] in scopes]


def validate_request_details(req: NewRequest, errors: Errors, catalogue: Catalogue) -> None:
    """Part A."""
    name = req.request_name
    if not name:
        errors.add("request_name", "Request name is required.")
    elif len(name) > 64:
        errors.add("request_name", "Request name must be at most 64 characters.")
    elif " " in name:
        errors.add("request_name", "Request name must not contain spaces.")
    elif not REQUEST_NAME_RE.fullmatch(name):
        errors.add("request_name", "Request name may contain only letters, digits and underscores.")
    elif name.lower() in catalogue.existing_request_names:
        errors.add(
            "request_name", f'A request named "{name}" already exists for user {req.owner}. Please choose another name.'
        )
    for attr, label, limit in (("description", "A description", 250), ("labname", "Lab name", 100)):
        value = getattr(req, attr)
        if not value.strip():
            errors.add(attr, f"{label} is required.")
        elif len(value) > limit:
            errors.add(attr, f"{label} must be at most {limit} characters.")
    email = req.correspondence_email
    if not email:
        errors.add("correspondence_email", "An email address is required.")
    elif len(email) > 100 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        errors.add("correspondence_email", "Please enter a valid email address.")
    if req.species not in SPECIES:
        errors.add("species", "Please choose a species.")
    if req.raw_data_retention_preference not in RETENTION_PREFERENCE:
        errors.add("raw_data_retention_preference", "Please choose how important it is to keep raw data.")
    if req.number_of_samples < 1:
        errors.add("number_of_samples", "A request needs at least one sample.")
    elif req.number_of_samples > MAX_SAMPLES:
        errors.add("number_of_samples", "Please request 50 samples or fewer.")
    if len(req.auditors) > MAX_AUDITORS:
        errors.add("auditors", f"At most {MAX_AUDITORS} usernames.")
    for username in req.auditors:
        if not USERNAME_RE.fullmatch(username):
            errors.add("auditors", f"'{username}' is not a valid username.")
        elif username == req.owner:
            errors.add("auditors", "The owner already has access.")
        elif username not in catalogue.named_users:
            errors.add("auditors", unknown_user_message(username))


def validate_sample(req: NewRequest, index: int, errors: Errors, catalogue: Catalogue, seen: dict[str, int]) -> None:
    """One sample's clearing sub-form."""
    s = req.samples[index]
    prefix = f"samples-{index}-"
    name = s.sample_name
    if not name:
        errors.add(prefix + "sample_name", "Sample name is required.")
    elif len(name) > 64:
        errors.add(prefix + "sample_name", "Sample name must be at most 64 characters.")
    elif " " in name:
        errors.add(prefix + "sample_name", "Sample name must not contain spaces.")
    elif not SAMPLE_NAME_RE.fullmatch(name):
        errors.add(prefix + "sample_name", "Sample name may contain only letters, digits, underscores and hyphens.")
    elif name.lower() in seen:
        errors.add(prefix + "sample_name", f"Sample name {name} is used more than once in this request.")
    else:
        seen[name.lower()] = index
    if len(s.subject_fullname) > 64:
        errors.add(prefix + "subject_fullname", "Subject must be at most 64 characters.")
    elif (
        s.subject_fullname
        and catalogue.known_subjects is not None
        and s.subject_fullname not in catalogue.known_subjects
    ):
        errors.add(prefix + "subject_fullname", f"Subject {s.subject_fullname} is not in the subject directory.")
    protocol = catalogue.protocols.get(s.clearing_protocol)
    if protocol is None or not protocol["is_active"]:
        errors.add(prefix + "clearing_protocol", "Please choose a clearing protocol from the list.")
    elif protocol["species_scope"] == "rat" and req.species != "rat":
        errors.add(prefix + "clearing_protocol", f"Protocol {protocol['label']} is for rat samples only.")
    elif req.species == "rat" and protocol["species_scope"] == "non_rat":
        errors.add(prefix + "clearing_protocol", RAT_PROTOCOLS_MESSAGE)
    elif protocol["requires_primary_antibody"] and not s.antibody1.strip():
        errors.add(prefix + "antibody1", f"A primary antibody is required for the {protocol['label']} protocol.")
    for attr in ("antibody1", "antibody2"):
        if len(getattr(s, attr).strip()) > 100:
            errors.add(prefix + attr, "At most 100 characters.")
    if len(s.notes_for_clearer) > 400:
        errors.add(prefix + "notes_for_clearer", "Notes for the clearing staff must be at most 400 characters.")
    if s.perfusion_date and s.expected_handoff_date and s.perfusion_date > s.expected_handoff_date:
        errors.add(prefix + "perfusion_date", "Perfusion date cannot be after the expected hand-off date.")


def validate_resolution(req: NewRequest, si: int, ri: int, errors: Errors, catalogue: Catalogue) -> None:
    """One per-resolution table."""
    r = req.samples[si].resolutions[ri]
    prefix = f"samples-{si}-resolutions-{ri}-"
    allowed = CHANNELS_OF_MICROSCOPE[r.microscope]
    if any(c.channel_name not in allowed for c in r.channels):
        errors.add(prefix + "channels", "Unknown channel.")
        return
    requested = r.requested_channels()
    if not requested:
        errors.add(prefix + "channels", NO_CHANNEL_MESSAGE)
    specific = [c for c in r.channels if any(getattr(c, p) for p in ("registration",) + DETECTIONS)]
    if specific and req.species != "mouse":
        errors.add(prefix + "channels", f"Only generic imaging is available for species {req.species}.")
    elif specific and r.image_resolution == "2x":
        errors.add(prefix + "channels", "Only generic imaging is available at 2x.")
    else:
        reg = [c for c in r.channels if c.registration]
        if len(reg) > 1:
            errors.add(prefix + "channels", "Only one registration channel is allowed per resolution.")
        for c in reg:
            if c.channel_name not in catalogue.registration_channels.get(r.microscope, ()):
                errors.add(
                    prefix + "channels",
                    f"Channel {c.channel_name} cannot be used for registration at {r.image_resolution}.",
                )
            if c.cell_detection:
                errors.add(prefix + "channels", "Cell detection cannot use the registration channel.")
        if any(getattr(c, d) for c in r.channels for d in DETECTIONS) and not reg:
            errors.add(prefix + "channels", "Select a registration channel when requesting any detection.")
        if reg and r.image_resolution in ATLAS_RESOLUTIONS and r.final_orientation != "sagittal":
            errors.add(
                prefix + "final_orientation", "Output orientation must be sagittal when registration is selected."
            )
    if len(r.notes_for_imager) > 1024:
        errors.add(prefix + "notes_for_imager", "Notes for the imager must be at most 1024 characters.")
    if len(r.notes_for_processor) > 1024:
        errors.add(prefix + "notes_for_processor", "Notes for the processor must be at most 1024 characters.")
    if r.image_resolution in ATLAS_RESOLUTIONS and r.atlas_name not in catalogue.active_atlases:
        errors.add(prefix + "atlas_name", "Please choose an available atlas.")
    if r.final_orientation not in ("sagittal", "coronal", "horizontal"):
        errors.add(prefix + "final_orientation", "Please choose an output orientation.")


def validate_new_request(req: NewRequest, catalogue: Catalogue) -> Errors:
    """Every rule of a new request (details, samples, resolutions, channels), each error keyed by its field,
    in form order."""
    errors = Errors()
    validate_request_details(req, errors, catalogue)
    seen: dict[str, int] = {}
    for si, sample in enumerate(req.samples):
        validate_sample(req, si, errors, catalogue, seen)
        if not req.self_clearing and sample.expected_handoff_date is None:
            errors.add(f"samples-{si}-expected_handoff_date", HANDOFF_MESSAGE)
        if not sample.resolutions:
            errors.add(f"samples-{si}-resolutions", "Set up imaging for at least one resolution.")
        used: set[str] = set()
        for ri, res in enumerate(sample.resolutions):
            if res.image_resolution in used:
                errors.add(f"samples-{si}-resolutions", duplicate_resolution_message(res.image_resolution))
                continue
            used.add(res.image_resolution)
            validate_resolution(req, si, ri, errors, catalogue)
    if len(req.samples) != req.number_of_samples:
        errors.add("number_of_samples", "The number of sample sections does not match the number of samples.")
    return errors


# ---------------------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------------------


@dataclass
class ClearingBatchPlan:
    number: int
    protocol: str
    antibody1: str
    antibody2: str
    sample_indexes: list[int] = field(default_factory=list)


@dataclass
class ImagingBatchPlan:
    clearing_batch_number: int
    number: int
    signature: dict[str, list[str]]
    sample_indexes: list[int] = field(default_factory=list)


def plan_clearing_batches(samples: list[SampleWish]) -> list[ClearingBatchPlan]:
    """Same (protocol, stripped antibody1, stripped antibody2) -> one batch, numbered by first appearance."""
    batches: dict[tuple[str, str, str], ClearingBatchPlan] = {}
    for i, s in enumerate(samples):
        key = (s.clearing_protocol, s.antibody1.strip(), s.antibody2.strip())
        if key not in batches:
            batches[key] = ClearingBatchPlan(len(batches) + 1, *key)
        batches[key].sample_indexes.append(i)
    return list(batches.values())


def plan_imaging_batches(
    samples: list[SampleWish], clearing: list[ClearingBatchPlan], sample_filter: set[int] | None = None
) -> list[ImagingBatchPlan]:
    """Within each clearing batch, samples with identical imaging signatures form one imaging batch."""
    plans: list[ImagingBatchPlan] = []
    for cb in clearing:
        groups: dict[str, ImagingBatchPlan] = {}
        for i in cb.sample_indexes:
            if sample_filter is not None and i not in sample_filter:
                continue
            sig = samples[i].signature()
            key = repr(sorted(sig.items()))
            if key not in groups:
                groups[key] = ImagingBatchPlan(cb.number, len(groups) + 1, sig)
            groups[key].sample_indexes.append(i)
        plans.extend(groups.values())
    return plans


def processable(resolutions: list[ResolutionWish]) -> list[ResolutionWish]:
    return [r for r in resolutions if r.image_resolution in PROCESSABLE_RESOLUTIONS]
