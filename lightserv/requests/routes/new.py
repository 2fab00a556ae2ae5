"""The new-request page: one form, named actions, every value kept between actions, a review before submitting.

Every button posts the whole form with `action=<name>`. The in-place actions (add or remove a sample or a
resolution, copy clearing or imaging) answer a request carrying the `X-Lightserv-Fragment: new-request` header
with the form alone, which new_request.js swaps into the page; without JavaScript the same post reloads the
page. A request is written only by `submit` with the `confirmed` flag that only the review page carries.
"""

from __future__ import annotations

import copy
import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.auth.queries import get_user_email
from lightserv.common.forms import form_expired, form_view
from lightserv.common.permissions import can, requires
from schemas.enums import (
    ATLAS_LABELS,
    IMAGE_RESOLUTION,
    RETENTION_PREFERENCE_LABELS,
    SPECIES,
)

from ..form_checks import check_structure, place_errors, sample_words
from ..forms import (
    NewRequestForm,
    channel_lines,
    default_resolution,
    default_sample,
    hidden_pairs,
    prepare_choices,
    to_new_request,
)
from ..queries import people
from ..services import RequestError, load_catalogue, submit_request
from ..submission import (
    ATLAS_RESOLUTIONS,
    MAX_SAMPLES,
    USERNAME_RE,
    Errors,
    duplicate_resolution_message,
    protocol_options,
    unknown_user_message,
    validate_new_request,
    validate_request_details,
)
from . import bp

ACTION_RE = re.compile(
    r"^(?P<name>setup|change_details|copy_clearing|copy_imaging|add_sample|edit|review|submit)$"
    r"|^(?P<verb>add_resolution|remove_sample):(?P<index>\d{1,2})$"
    r"|^remove_resolution:(?P<si>\d{1,2}):(?P<ri>\d{1,2})$"
)
OTHER_USER_MESSAGE = "Only facility staff can submit a request for another user."
FRAGMENT = "new-request"  # the X-Lightserv-Fragment value asking for (and marking) the form alone
CLEARING_FIELDS = ("clearing_protocol", "antibody1", "antibody2", "perfusion_date", "expected_handoff_date")


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


def _rebuild(data: dict) -> NewRequestForm:
    return NewRequestForm(formdata=None, data=data)


def _render(form: NewRequestForm, errors: Errors | None = None, focus: str = "", status: int = 200, announce=""):
    """The page (or, for an in-place action, the form alone) with `errors` placed next to their fields."""
    catalogue = load_catalogue(current_user.get_id())
    species = form.species.data if form.species.data in SPECIES else "mouse"
    protocols = [(p, catalogue.protocols[p]["label"]) for p in protocol_options(species, catalogue)]
    prepare_choices(form, protocols, sorted(catalogue.active_atlases))
    fragment = request.headers.get("X-Lightserv-Fragment") == FRAGMENT
    html = render_template(
        "requests/_new_form.html" if fragment else "requests/new.html",
        form=form,
        problems=place_errors(form, errors) if errors else None,
        focus=focus,
        announce=announce,
        fragment=fragment,
        species=species,
        can_file_for_others=can(current_user, "request.submit_for_other"),
        registration_channels=catalogue.registration_channels,
        max_samples=MAX_SAMPLES,
    )
    return html, status, ({"X-Lightserv-Fragment": FRAGMENT} if fragment else {})


def _render_review(form: NewRequestForm, draft, catalogue):
    """What will be ordered, with every value of the form as hidden inputs and the `confirmed` flag."""
    return render_template(
        "requests/new.html",
        form=form,
        review=draft,
        hidden=hidden_pairs(form),
        protocol_labels={p: row["label"] for p, row in catalogue.protocols.items()},
        retention_labels=RETENTION_PREFERENCE_LABELS,
        atlas_labels=ATLAS_LABELS,
        atlas_resolutions=ATLAS_RESOLUTIONS,
        channel_lines=channel_lines,
        focus="review",
    )


def _default_protocol(species: str, owner: str) -> str:
    return protocol_options(species, load_catalogue(owner))[0]


def _unique_sample_name(data: dict) -> str:
    """The next `<request>-NNN` name no sample of the form uses yet."""
    used = {s["sample_name"].lower() for s in data["samples"] if s["sample_name"]}
    number = len(data["samples"]) + 1
    while f"{data['request_name']}-{number:03d}".lower() in used:
        number += 1
    return f"{data['request_name']}-{number:03d}"


# ---------------------------------------------------------------------------------------------------
# The actions on the samples (the form has its sample sections): each changes `data` and re-renders
# ---------------------------------------------------------------------------------------------------


def _copy_clearing(form, data, owner, errors, match):
    for other in data["samples"][1:]:
        other.update({key: data["samples"][0][key] for key in CLEARING_FIELDS})
    return _render(_rebuild(data), focus="sample-1", announce="Clearing copied from sample 1 to every sample.")


def _copy_imaging(form, data, owner, errors, match):
    for other in data["samples"][1:]:
        other["resolutions"] = copy.deepcopy(data["samples"][0]["resolutions"])  # replaces, never appends
    return _render(_rebuild(data), focus="sample-1", announce="Imaging copied from sample 1 to every sample.")


def _add_sample(form, data, owner, errors, match):
    if len(data["samples"]) >= MAX_SAMPLES:
        abort(400, f"A request has at most {MAX_SAMPLES} samples.")
    sample = default_sample(data["request_name"], 0, _default_protocol(data["species"], owner))
    sample["sample_name"] = _unique_sample_name(data)
    data["samples"].append(sample)
    data["number_of_samples"] = n = len(data["samples"])
    return _render(_rebuild(data), focus=f"sample-{n}", announce=f"Sample {n} added.")


def _remove_sample(form, data, owner, errors, match):
    index = int(match.group("index"))
    if index >= len(data["samples"]) or len(data["samples"]) == 1:
        abort(400, "This sample cannot be removed: a request needs at least one sample.")
    words = sample_words(form, index)
    data["samples"].pop(index)
    data["number_of_samples"] = len(data["samples"])
    return _render(_rebuild(data), focus=f"sample-{max(index, 1)}", announce=f"{words} removed.")


def _add_resolution(form, data, owner, errors, match):
    index = int(match.group("index"))
    if index >= len(data["samples"]):
        abort(400, "Unknown sample.")
    sample = data["samples"][index]
    chosen = sample.get("new_resolution") or ""
    if chosen not in IMAGE_RESOLUTION:
        errors.add(f"samples-{index}-new_resolution", "Choose a resolution to add.")
    elif any(r["image_resolution"] == chosen for r in sample["resolutions"]):
        errors.add(f"samples-{index}-new_resolution", duplicate_resolution_message(chosen))
    if errors:
        return _render(form, errors, focus=f"samples-{index}-new_resolution", status=400)
    sample["resolutions"].append(default_resolution(chosen, data["species"]))
    sample["new_resolution"] = ""
    return _render(
        _rebuild(data),
        focus=f"sample-{index + 1}-res-{chosen}",
        announce=f"Resolution {chosen} added to {sample_words(form, index).lower()}.",
    )


def _remove_resolution(form, data, owner, errors, match):
    si, ri = int(match.group("si")), int(match.group("ri"))
    if si >= len(data["samples"]) or ri >= len(data["samples"][si]["resolutions"]):
        abort(400, "Unknown resolution table.")
    removed = data["samples"][si]["resolutions"].pop(ri)["image_resolution"]
    words = sample_words(form, si).lower()
    return _render(
        _rebuild(data), focus=f"samples-{si}-new_resolution", announce=f"Resolution {removed} removed from {words}."
    )


def _date_errors(form: NewRequestForm, errors: Errors) -> None:
    """Typed dates the browser could not turn into a date."""
    for sample in form.samples:
        for date_field in (sample.form.perfusion_date, sample.form.expected_handoff_date):
            if date_field.raw_data and date_field.raw_data[0] and date_field.data is None:
                errors.add(date_field.name, "Not a valid date (use YYYY-MM-DD).")


def _review_or_submit(form, data, owner, errors, match):
    """Without the review page's `confirmed` flag: check everything and show what will be ordered.
    With it: write the request."""
    _date_errors(form, errors)
    draft = to_new_request(form, owner)
    catalogue = load_catalogue(owner, draft.auditors)
    for key, messages in validate_new_request(draft, catalogue).items():
        if key not in errors:  # an unreadable date is not "missing" as well
            for message in messages:
                errors.add(key, message)
    if errors:
        return _render(form, errors, status=400)
    if not (match.group("name") == "submit" and request.form.get("confirmed") == "y"):
        return _render_review(form, draft, catalogue)
    try:
        result = submit_request(draft, current_user.get_id())
    except RequestError as exc:
        return _render(form, exc.errors, status=400)
    email = (form.correspondence_email.data or "").strip().lower()
    flash(
        f"Request submitted. A confirmation was sent to {email} with instructions for handing off your samples.",
        "success",
    )
    if form.self_clearing.data:
        flash("You chose to clear the samples yourself: your batches are in the clearing queue.", "info")
    return redirect(url_for("requests.request_list", _anchor=f"{result.owner}-{result.request_name}"))


SAMPLE_ACTIONS = {
    "copy_clearing": _copy_clearing,
    "copy_imaging": _copy_imaging,
    "add_sample": _add_sample,
    "remove_sample": _remove_sample,
    "add_resolution": _add_resolution,
    "remove_resolution": _remove_resolution,
    "edit": lambda form, data, owner, errors, match: _render(form, focus="final"),
    "review": _review_or_submit,
    "submit": _review_or_submit,
}


def _setup(form: NewRequestForm, data: dict, owner: str, errors: Errors):
    """Check the request details, then open one prefilled section per sample."""
    draft = to_new_request(form, owner)
    validate_request_details(draft, errors, load_catalogue(owner, draft.auditors))
    if errors:
        return _render(form, errors, status=400)
    protocol = _default_protocol(draft.species, owner)
    data.update(
        stage="samples",
        request_name=draft.request_name,
        samples=[default_sample(draft.request_name, i, protocol) for i in range(draft.number_of_samples)],
    )
    return _render(_rebuild(data), focus="samples")


@bp.route("/requests/new", methods=["GET", "POST"])
@requires("request.submit")
@form_view
def new_request():
    if request.method == "GET":
        email = get_user_email(current_user.get_id())
        return _render(
            _rebuild({"correspondence_email": email, "species": "mouse", "number_of_samples": 1, "stage": "details"})
        )
    form = NewRequestForm()
    if form_expired():  # show the posted values again; act on nothing
        return _render(form, status=400)
    match = ACTION_RE.fullmatch(request.form.get("action", ""))
    if not match:
        abort(400, "Unknown form action.")
    check_structure(form)
    errors = Errors()
    owner = _owner_and_errors(form, errors)
    data = copy.deepcopy(form.data)
    data.pop("csrf_token", None)
    name = match.group("name") or match.group("verb") or "remove_resolution"
    if name == "setup":
        return _setup(form, data, owner, errors)
    if form.stage.data != "samples":
        abort(400, "Set up the samples first.")
    if name == "change_details":
        data.update(stage="details", samples=[])
        return _render(_rebuild(data), focus="details")
    return SAMPLE_ACTIONS[name](form, data, owner, errors, match)
