"""Every validation rule of the new-request form: one failing case each, with its message."""

from __future__ import annotations

import datetime as dt

import pytest

from lightserv.requests.submission import validate_new_request
from tests.factories import channel, new_request, resolution, sample


@pytest.fixture
def catalogue(app):
    from lightserv.requests.services import load_catalogue

    with app.test_request_context():
        return load_catalogue("ana")


def messages(req, catalogue) -> dict[str, list[str]]:
    return dict(validate_new_request(req, catalogue))


def test_a_valid_request_has_no_errors(catalogue):
    assert messages(new_request("ana"), catalogue) == {}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"request_name": ""}, "request_name", "Request name is required."),
        ({"request_name": "my request"}, "request_name", "Request name must not contain spaces."),
        (
            {"request_name": "my-request"},
            "request_name",
            "Request name may contain only letters, digits and underscores.",
        ),
        ({"request_name": "x" * 65}, "request_name", "Request name must be at most 64 characters."),
        ({"description": "  "}, "description", "A description is required."),
        ({"description": "d" * 251}, "description", "A description must be at most 250 characters."),
        ({"labname": ""}, "labname", "Lab name is required."),
        ({"labname": "l" * 101}, "labname", "Lab name must be at most 100 characters."),
        ({"correspondence_email": "not-an-email"}, "correspondence_email", "Please enter a valid email address."),
        ({"species": "dog"}, "species", "Please choose a species."),
        (
            {"raw_data_retention_preference": ""},
            "raw_data_retention_preference",
            "Please choose how important it is to keep raw data.",
        ),
        ({"auditors": ["Bad Name"]}, "auditors", "'Bad Name' is not a valid username."),
        ({"auditors": ["ana"]}, "auditors", "The owner already has access."),
        ({"auditors": [f"u{i}" for i in range(11)]}, "auditors", "At most 10 usernames."),
        ({"auditors": ["nobody"]}, "auditors", "No active user is named 'nobody'. Choose a name from the suggestions."),
    ],
)
def test_request_detail_rules(catalogue, overrides, field, message):
    overrides = dict(overrides)
    name = overrides.pop("request_name", "req1")
    assert message in messages(new_request("ana", name, **overrides), catalogue)[field]


def test_sample_count_limits(catalogue):
    req = new_request("ana")
    req.number_of_samples = 0
    assert "A request needs at least one sample." in messages(req, catalogue)["number_of_samples"]
    req.number_of_samples = 51
    assert "Please request 50 samples or fewer." in messages(req, catalogue)["number_of_samples"]


def test_request_name_is_unique_per_owner_case_insensitively(app, make_user):
    from lightserv.requests.services import load_catalogue
    from tests.factories import submit

    make_user("ana")
    submit(app, new_request("ana", "Brains_1"))
    with app.test_request_context():
        cat = load_catalogue("ana")
    errors = messages(new_request("ana", "brains_1"), cat)
    assert errors["request_name"] == [
        'A request named "brains_1" already exists for user ana. Please choose another name.'
    ]


@pytest.mark.parametrize(
    ("sample_kw", "species", "field", "message"),
    [
        ({"sample_name": "a b"}, "mouse", "sample_name", "Sample name must not contain spaces."),
        (
            {"sample_name": "a/b"},
            "mouse",
            "sample_name",
            "Sample name may contain only letters, digits, underscores and hyphens.",
        ),
        ({"protocol": "udisco_rat"}, "mouse", "clearing_protocol", "Protocol Rat: uDISCO is for rat samples only."),
        (
            {"protocol": "idisco_plus_immuno"},
            "rat",
            "clearing_protocol",
            "Rat samples need one of: iDISCO abbreviated clearing (rat), uDISCO (rat), experimental.",
        ),
        (
            {"protocol": "idisco_plus_immuno"},
            "mouse",
            "antibody1",
            "A primary antibody is required for the iDISCO+ (immunostaining) protocol.",
        ),
        (
            {"perfusion_date": dt.date(2030, 2, 1)},
            "mouse",
            "perfusion_date",
            "Perfusion date cannot be after the expected hand-off date.",
        ),
        (
            {"notes_for_clearer": "n" * 401},
            "mouse",
            "notes_for_clearer",
            "Notes for the clearing staff must be at most 400 characters.",
        ),
    ],
)
def test_sample_rules(catalogue, sample_kw, species, field, message):
    name = sample_kw.pop("sample_name", "s1")
    protocol = sample_kw.pop("protocol", "idisco_abbreviated_rat" if species == "rat" else "idisco_abbreviated")
    res = resolution("1.3x", channel("488"))
    req = new_request("ana", samples=[sample(name, res, protocol=protocol, **sample_kw)], species=species)
    assert message in messages(req, catalogue)[f"samples-0-{field}"]


def test_rat_samples_may_use_the_experimental_protocol(catalogue):
    req = new_request("ana", samples=[sample("r1", resolution("1.3x"), protocol="experimental")], species="rat")
    assert messages(req, catalogue) == {}


@pytest.mark.parametrize("species", ["primate", "marsupial"])
def test_primate_and_marsupial_have_a_protocol_list(catalogue, species):
    from lightserv.requests.submission import protocol_options

    options = protocol_options(species, catalogue)
    assert "idisco_abbreviated" in options and "experimental" in options and "udisco_rat" not in options


def test_samples_names_are_unique_case_insensitively(catalogue):
    req = new_request("ana", samples=[sample("Brain1"), sample("brain1")])
    assert messages(req, catalogue)["samples-1-sample_name"] == [
        "Sample name brain1 is used more than once in this request."
    ]


def test_handoff_date_is_required_unless_self_clearing(catalogue):
    req = new_request("ana", samples=[sample("a", expected_handoff_date=None), sample("b", expected_handoff_date=None)])
    errors = messages(req, catalogue)
    required = "Expected hand-off date is required, unless you will clear the samples yourself."
    assert errors["samples-0-expected_handoff_date"] == errors["samples-1-expected_handoff_date"] == [required]
    req.self_clearing = True
    assert messages(req, catalogue) == {}


def test_a_sample_needs_a_resolution(catalogue):
    req = new_request("ana", samples=[sample("a")])
    req.samples[0].resolutions = []
    assert messages(req, catalogue)["samples-0-resolutions"] == ["Set up imaging for at least one resolution."]


def test_a_resolution_may_appear_once_per_sample(catalogue):
    req = new_request("ana", samples=[sample("a", resolution("1.3x"), resolution("1.3x"))])
    assert messages(req, catalogue)["samples-0-resolutions"] == ["Resolution 1.3x is already set up for this sample."]


@pytest.mark.parametrize(
    ("res", "species", "field", "message"),
    [
        (resolution("1.3x", channel("488", "registration"), channel("647")), "mouse", "channels", None),
        (resolution("4x", channel("488")), "mouse", "channels", None),
    ],
)
def test_valid_tables(catalogue, res, species, field, message):
    assert messages(new_request("ana", samples=[sample("a", res)], species=species), catalogue) == {}


@pytest.mark.parametrize(
    ("res", "species", "field", "message"),
    [
        (lambda: resolution("1.3x", channel("488", "registration"), channel("647")), "mouse", "channels", None),
        (lambda: _no_purpose(), "mouse", "channels", "Choose at least one channel: tick what it is for."),
        (
            lambda: resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection")),
            "rat",
            "channels",
            "Only generic imaging is available for species rat.",
        ),
        (
            lambda: resolution("2x", channel("488", "registration")),
            "mouse",
            "channels",
            "Only generic imaging is available at 2x.",
        ),
        (
            lambda: resolution("1.3x", channel("488", "registration"), channel("555", "registration")),
            "mouse",
            "channels",
            "Only one registration channel is allowed per resolution.",
        ),
        (
            lambda: resolution("1.3x", channel("647", "registration")),
            "mouse",
            "channels",
            "Channel 647 cannot be used for registration at 1.3x.",
        ),
        (
            lambda: resolution("1.3x", channel("647", "cell_detection")),
            "mouse",
            "channels",
            "Select a registration channel when requesting any detection.",
        ),
        (
            lambda: resolution("1.3x", channel("488", "registration", "cell_detection")),
            "mouse",
            "channels",
            "Cell detection cannot use the registration channel.",
        ),
        (
            lambda: resolution("1.3x", channel("488", "registration"), final_orientation="coronal"),
            "mouse",
            "final_orientation",
            "Output orientation must be sagittal when registration is selected.",
        ),
        (
            lambda: resolution("1.3x", channel("561")),
            "mouse",
            "channels",
            "Unknown channel.",
        ),
        (
            lambda: resolution("1.3x", channel("488"), notes_for_imager="n" * 1025),
            "mouse",
            "notes_for_imager",
            "Notes for the imager must be at most 1024 characters.",
        ),
    ],
)
def test_table_rules(catalogue, res, species, field, message):
    protocol = "idisco_abbreviated_rat" if species == "rat" else "idisco_abbreviated"
    req = new_request("ana", samples=[sample("a", res(), protocol=protocol)], species=species)
    errors = messages(req, catalogue)
    if message is None:
        assert errors == {}
    else:
        assert message in errors[f"samples-0-resolutions-0-{field}"]


def _no_purpose():
    r = resolution("1.3x", channel("488"))
    r.channels[0].generic_imaging = False
    return r


def test_smartspim_registration_channels_come_from_settings(catalogue):
    ok = resolution("3.6x", channel("642", "registration"), channel("561", "cell_detection"))
    assert messages(new_request("ana", samples=[sample("a", ok)]), catalogue) == {}
