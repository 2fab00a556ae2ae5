"""The new-request page (requests.md §2): one form, named actions, every value kept between actions."""

from __future__ import annotations

import copy
import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_expired, form_view
from lightserv.common.permissions import can, requires
from lightserv.db import get_schemas
from schemas.enums import CHANNELS_OF_MICROSCOPE, IMAGE_RESOLUTION, MICROSCOPE_OF_RESOLUTION, SPECIES

from .. import people
from ..forms_new import NewRequestForm, default_resolution, default_sample, prepare_choices, to_new_request
from ..services import RequestError, load_catalogue, submit_request
from ..submission import USERNAME_RE, Errors, protocol_options, unknown_user_message, validate_request_details
from . import bp

ACTION_RE = re.compile(
    r"^(setup|change_details|copy_clearing|copy_imaging|submit)$|^add_resolution:(\d{1,2})$"
    r"|^remove_resolution:(\d{1,2}):(\d{1,2})$"
)
OTHER_USER_MESSAGE = "Only facility staff can submit a request for another user."


def _own_email() -> str:
    rows = (get_schemas().lightsheet.User & {"username": current_user.get_id()}).to_dicts()
    return rows[0]["email"] if rows else ""


def _owner_and_errors(form: NewRequestForm, errors: Errors) -> str:
    """Who owns the request; refuses filing for others unless the user is clearing staff or admin."""
    me = current_user.get_id()
    if not form.enter_for_other.data:
        return me
    if not can(current_user, "request.submit_for_other"):
        errors.add("enter_for_other", OTHER_USER_MESSAGE)
        return me
    other = (form.other_username.data or "").strip().lower()
    if not other:
        errors.add("other_username", "Please enter the username of the person you are filing for.")
    elif not USERNAME_RE.fullmatch(other):
        errors.add("other_username", f"'{other}' is not a valid username.")
    elif other == me:
        errors.add("other_username", "Leave the box unticked to file a request for yourself.")
    elif not people.active_usernames([other]):
        errors.add("other_username", unknown_user_message(other))
    else:
        return other
    return me


def check_tables(sample_form) -> None:
    """Reject tampered resolution tables with 400: unknown or duplicate resolution, unknown channel."""
    seen = set()
    for res in sample_form.resolutions:
        resolution = res.form.image_resolution.data
        if resolution not in IMAGE_RESOLUTION or resolution in seen:
            abort(400, "A resolution table was tampered with (unknown or duplicate resolution).")
        seen.add(resolution)
        names = [c.form.channel_name.data for c in res.form.channels]
        if sorted(names) != sorted(CHANNELS_OF_MICROSCOPE[MICROSCOPE_OF_RESOLUTION[resolution]]):
            abort(400, "A resolution table was tampered with (unknown channel).")


def _check_structure(form: NewRequestForm) -> None:
    """Reject tampered read-only parts with 400 (requests.md §2.7)."""
    if form.species.data not in SPECIES:
        abort(400, "Unknown species.")
    if form.stage.data != "samples":
        return
    if (form.number_of_samples.data or 0) != len(form.samples.entries):
        abort(400, "The number of samples does not match the sample sections.")
    for sample in form.samples:
        check_tables(sample.form)


def _field(form, key: str):
    """The form field an error key such as `samples-0-resolutions-1-channels` belongs to."""
    parts = key.split("-")
    node = form
    i = 0
    while i < len(parts):
        name = parts[i]
        try:
            field = node[name]
        except KeyError:
            return None
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            index = int(parts[i + 1])
            if index >= len(field.entries):
                return None
            node = field.entries[index].form
            i += 2
            continue
        return field if i == len(parts) - 1 else None
    return None


def attach_errors(form, errors) -> list[tuple[str, str]]:
    """Put each message next to its field; return (label, message) pairs for the summary."""
    summary = []
    for key, messages in errors.items():
        field = _field(form, key)
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
        label = field.label.text if field is not None and hasattr(field, "label") and field.label else ""
        summary.extend((label, m) for m in messages)
    return summary


def _rebuild(data: dict) -> NewRequestForm:
    return NewRequestForm(formdata=None, data=data)


def _render(form: NewRequestForm, summary=(), focus: str = "", status: int = 200):
    catalogue = load_catalogue(current_user.get_id())
    species = form.species.data if form.species.data in SPECIES else "mouse"
    protocols = [(p, catalogue.protocols[p]["label"]) for p in protocol_options(species, catalogue)]
    atlases = sorted(catalogue.active_atlases)
    prepare_choices(form, protocols, atlases)
    return (
        render_template(
            "requests/new.html",
            form=form,
            summary=list(summary),
            focus=focus,
            species=species,
            can_file_for_others=can(current_user, "request.submit_for_other"),
            registration_channels=catalogue.registration_channels,
        ),
        status,
    )


@bp.route("/requests/new", methods=["GET", "POST"])
@requires("request.submit")
@form_view
def new_request():
    if request.method == "GET":
        return _render(
            _rebuild(
                {"correspondence_email": _own_email(), "species": "mouse", "number_of_samples": 1, "stage": "details"}
            )
        )
    form = NewRequestForm()
    if form_expired():  # show the posted values again; act on nothing
        return _render(form, status=400)
    action = request.form.get("action", "")
    match = ACTION_RE.fullmatch(action)
    if not match:
        abort(400, "Unknown form action.")
    _check_structure(form)
    errors = Errors()
    owner = _owner_and_errors(form, errors)
    data = copy.deepcopy(form.data)
    data.pop("csrf_token", None)
    name = match.group(1)

    if name == "setup":
        draft = to_new_request(form, owner)
        validate_request_details(draft, errors, load_catalogue(owner, draft.auditors))
        if errors:
            return _render(form, attach_errors(form, errors), status=400)
        default_protocol = protocol_options(draft.species, load_catalogue(owner))[0]
        data.update(
            stage="samples",
            request_name=draft.request_name,
            samples=[default_sample(draft.request_name, i, default_protocol) for i in range(draft.number_of_samples)],
        )
        return _render(_rebuild(data), focus="samples")
    if form.stage.data != "samples":
        abort(400, "Set up the samples first.")
    if name == "change_details":
        data.update(stage="details", samples=[])
        return _render(_rebuild(data), focus="details")
    if name == "copy_clearing":
        first = data["samples"][0]
        for other in data["samples"][1:]:
            for key in ("clearing_protocol", "antibody1", "antibody2", "perfusion_date", "expected_handoff_date"):
                other[key] = first[key]
        return _render(_rebuild(data), focus="sample-1")
    if name == "copy_imaging":
        first = data["samples"][0]
        for other in data["samples"][1:]:
            other["resolutions"] = copy.deepcopy(first["resolutions"])  # replaces, never appends (pitfall 28)
        return _render(_rebuild(data), focus="sample-1")
    if match.group(2) is not None:  # add a resolution table
        index = int(match.group(2))
        if index >= len(data["samples"]):
            abort(400, "Unknown sample.")
        sample = data["samples"][index]
        chosen = sample.get("new_resolution") or ""
        if chosen not in IMAGE_RESOLUTION:
            errors.add(f"samples-{index}-new_resolution", "Choose a resolution to add.")
        elif any(r["image_resolution"] == chosen for r in sample["resolutions"]):
            errors.add(
                f"samples-{index}-new_resolution",
                f"Resolution {chosen} is already set up for sample {sample['sample_name']}.",
            )
        if errors:
            return _render(form, attach_errors(form, errors), focus=f"sample-{index + 1}", status=400)
        sample["resolutions"].append(default_resolution(chosen, data["species"]))
        sample["new_resolution"] = ""
        return _render(_rebuild(data), focus=f"sample-{index + 1}-res-{chosen}")
    if match.group(3) is not None:  # remove a resolution table
        si, ri = int(match.group(3)), int(match.group(4))
        if si >= len(data["samples"]) or ri >= len(data["samples"][si]["resolutions"]):
            abort(400, "Unknown resolution table.")
        data["samples"][si]["resolutions"].pop(ri)
        return _render(_rebuild(data), focus=f"sample-{si + 1}")
    # submit
    for sample in form.samples:
        for date_field in (sample.form.perfusion_date, sample.form.expected_handoff_date):
            if date_field.raw_data and date_field.raw_data[0] and date_field.data is None:
                errors.add(date_field.name, "Not a valid date (use YYYY-MM-DD).")
    if errors:
        return _render(form, attach_errors(form, errors), status=400)
    try:
        result = submit_request(to_new_request(form, owner), current_user.get_id())
    except RequestError as exc:
        return _render(form, attach_errors(form, exc.errors), status=400)
    email = (form.correspondence_email.data or "").strip().lower()
    flash(
        f"Request submitted. A confirmation was sent to {email} with instructions for handing off your samples.",
        "success",
    )
    if form.self_clearing.data:
        flash("You chose to clear the samples yourself: your batches are in the clearing queue.", "info")
    return redirect(url_for("requests.request_list", _anchor=f"{result.owner}-{result.request_name}"))
