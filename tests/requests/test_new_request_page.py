"""The new-request page over HTTP: actions keep input, errors sit next to fields, the server enforces
every rule whatever is posted."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightserv.db import get_schemas
from tests.conftest import csrf_from

LAVISION = ("488", "555", "647", "790")
SMARTSPIM = ("488", "561", "642", "785")
PURPOSES = ("registration", "injection_detection", "probe_detection", "cell_detection", "generic_imaging")


def details(**over) -> dict:
    data = {
        "request_name": "brains",
        "description": "Whole-brain c-Fos",
        "labname": "Smith",
        "correspondence_email": "ana@lab.example",
        "species": "mouse",
        "number_of_samples": "2",
        "raw_data_retention_preference": "important",
        "auditors": "",
    }
    data.update(over)
    return data


def table(si: int, ri: int, res: str, ticks: dict[str, tuple[str, ...]], **extra) -> dict:
    channels = SMARTSPIM if res in ("3.6x", "15x") else LAVISION
    data = {
        f"samples-{si}-resolutions-{ri}-image_resolution": res,
        f"samples-{si}-resolutions-{ri}-atlas_name": extra.pop("atlas_name", "allen_2017"),
        f"samples-{si}-resolutions-{ri}-final_orientation": extra.pop("final_orientation", "sagittal"),
    }
    for ci, wl in enumerate(channels):
        data[f"samples-{si}-resolutions-{ri}-channels-{ci}-channel_name"] = wl
        for purpose in ticks.get(wl, ()):
            data[f"samples-{si}-resolutions-{ri}-channels-{ci}-{purpose}"] = "y"
    for key, value in extra.items():
        data[f"samples-{si}-resolutions-{ri}-{key}"] = value
    return data


def sample_fields(si: int, name: str, **over) -> dict:
    data = {
        "sample_name": name,
        "clearing_protocol": "idisco_abbreviated",
        "expected_handoff_date": "2030-01-15",
        "perfusion_date": "",
        "antibody1": "",
        "antibody2": "",
        "subject_fullname": "",
        "notes_for_clearer": "",
    }
    data.update(over)
    return {f"samples-{si}-{k}": v for k, v in data.items()}


def full_form(n: int = 2, **over) -> dict:
    data = details(number_of_samples=str(n), stage="samples")
    for i in range(n):
        data.update(sample_fields(i, f"brains-00{i + 1}"))
        data.update(table(i, 0, "1.3x", {"488": ("registration",), "647": ("cell_detection",)}))
    data.update(over)
    return data


def selected(html: str, name: str) -> str | None:
    """The selected option's value of the <select name=...> in `html`."""
    block = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no select {name}"
    option = re.search(r"<option[^>]*\bselected\b[^>]*>", block.group(1))
    if option is None:
        return None
    return re.search(r'value="([^"]*)"', option.group(0)).group(1)


@pytest.fixture
def post(client):
    def do(data: dict, action: str):
        token = csrf_from(client.get("/requests/new").get_data(as_text=True))
        return client.post("/requests/new", data={**data, "action": action, "csrf_token": token})

    return do


def test_the_page_opens_with_the_owners_email_prefilled(client, make_user, login_as):
    login_as("researcher", "ana")
    html = client.get("/requests/new").get_data(as_text=True)
    assert 'value="ana@test.example"' in html
    assert "Set up samples" in html
    assert "I am filling out this form for someone else" not in html  # researchers cannot file for others


def test_setup_creates_prefilled_sample_sections_and_freezes_the_details(client, login_as, post):
    login_as("researcher", "ana")
    resp = post(details(number_of_samples="3"), "setup")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count('data-testid="sample-section"') == 3
    for i in (1, 2, 3):
        assert f'value="brains-00{i}"' in html
    assert 'data-testid="details-summary"' in html and "Change request details" in html


def test_setup_validates_only_the_details_and_shows_errors_next_to_fields(client, login_as, post):
    login_as("researcher", "ana")
    resp = post(details(request_name="bad name", number_of_samples="60"), "setup")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(
        r'id="request_name"[^>]*>\s*<div class="invalid-feedback">Request name must not contain spaces.', html
    )
    assert "Please request 50 samples or fewer." in html
    assert 'data-testid="error-summary"' in html


def test_adding_a_resolution_gives_four_channel_rows_with_488_registration_for_mouse(client, login_as, post):
    login_as("researcher", "ana")
    data = full_form(1)
    data = {k: v for k, v in data.items() if "resolutions" not in k}
    data["samples-0-new_resolution"] = "1.1x"
    html = post(data, "add_resolution:0").get_data(as_text=True)
    assert html.count('data-testid="resolution-table"') == 1
    assert re.search(r'name="samples-0-resolutions-0-channels-0-registration"[^>]*value="y"\s*checked', html)
    assert 'value="1.1x" selected' not in html  # the chosen resolution left the picker


def test_adding_a_resolution_twice_is_refused_with_the_message(client, login_as, post):
    login_as("researcher", "ana")
    data = full_form(1)
    data["samples-0-new_resolution"] = "1.3x"
    resp = post(data, "add_resolution:0")
    assert resp.status_code == 400
    assert "Sample 1 (brains-001): resolution 1.3x is already set up for this sample." in resp.get_data(as_text=True)


def test_copy_imaging_replaces_and_pressing_twice_gives_the_same_result(client, login_as, post):
    login_as("researcher", "ana")
    data = full_form(2)
    data.update(
        table(
            0,
            1,
            "4x",
            {"488": ("generic_imaging",)},
            notes_for_imager="cortex",
            notes_for_processor="np",
            final_orientation="coronal",
            atlas_name="princeton_mouse_atlas",
        )
    )
    first = post(data, "copy_imaging").get_data(as_text=True)
    assert first.count('data-testid="resolution-table"') == 4
    assert re.search(r'name="samples-1-resolutions-1-notes_for_imager"[^>]*>\s*cortex</textarea>', first)
    assert selected(first, "samples-1-resolutions-1-final_orientation") == "coronal"
    assert selected(first, "samples-1-resolutions-1-atlas_name") == "princeton_mouse_atlas"
    # post the page's own state back and press again: same tables, never duplicated
    data2 = dict(data)
    data2.update(table(1, 0, "1.3x", {"488": ("registration",), "647": ("cell_detection",)}))
    data2.update(
        table(
            1,
            1,
            "4x",
            {"488": ("generic_imaging",)},
            notes_for_imager="cortex",
            notes_for_processor="np",
            final_orientation="coronal",
            atlas_name="princeton_mouse_atlas",
        )
    )
    second = post(data2, "copy_imaging").get_data(as_text=True)
    assert second.count('data-testid="resolution-table"') == 4


def test_copy_clearing_copies_protocol_antibodies_and_dates_but_not_names(client, login_as, post):
    login_as("researcher", "ana")
    data = full_form(2)
    data.update(
        sample_fields(
            0,
            "first",
            clearing_protocol="idisco_plus_immuno",
            antibody1="anti-cFos",
            perfusion_date="2030-01-01",
            notes_for_clearer="fragile",
        )
    )
    html = post(data, "copy_clearing").get_data(as_text=True)
    assert selected(html, "samples-1-clearing_protocol") == "idisco_plus_immuno"
    assert re.search(r'name="samples-1-antibody1"[^>]*>\s*anti-cFos</textarea>', html)
    assert 'name="samples-1-perfusion_date" type="date" value="2030-01-01"' in html
    assert re.search(r'name="samples-1-sample_name" required type="text" value="brains-002"', html)  # required
    assert "fragile" in html.split('name="samples-1-notes_for_clearer"')[0]  # only on sample 1


def test_submit_creates_the_request_and_lands_on_the_list(app, client, login_as, post):
    login_as("researcher", "ana")
    resp = post({**full_form(2), "confirmed": "y"}, "submit")  # "Submit request" on the review page
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/requests/")
    with app.app_context():
        ls = get_schemas().lightsheet
        assert len(ls.Request.Sample & {"username": "ana", "request_name": "brains"}) == 2
    follow = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Request submitted. A confirmation was sent to ana@lab.example" in follow


def test_submit_errors_sit_next_to_their_fields_and_nothing_is_written(app, client, login_as, post):
    login_as("researcher", "ana")
    data = full_form(2)
    data.update(sample_fields(1, "brains-001"))
    del data["samples-1-resolutions-0-channels-0-registration"]  # 647 cell detection without registration
    resp = post(data, "submit")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert html.count("Sample 2 (brains-001): sample name brains-001 is used more than once in this request.") == 1
    assert html.count("Sample 2 (brains-001), resolution 1.3x: select a registration channel when requesting any") == 1
    with app.app_context():
        assert not get_schemas().lightsheet.Request & {"username": "ana"}


def test_a_researcher_cannot_file_for_someone_else_whatever_is_posted(app, client, login_as, post):
    login_as("researcher", "ana")
    resp = post(full_form(1, enter_for_other="y", other_username="bob"), "submit")
    assert resp.status_code == 400
    assert "Only facility staff can submit a request for another user." in resp.get_data(as_text=True)
    with app.app_context():
        assert not get_schemas().lightsheet.Request()


def test_clearing_staff_files_a_request_for_another_user(app, client, login_as, make_user, post):
    make_user("bob")
    login_as("clearing", "clara")
    resp = post(full_form(1, enter_for_other="y", other_username="bob", confirmed="y"), "submit")
    assert resp.status_code == 302
    with app.app_context():
        (row,) = get_schemas().lightsheet.Request().to_dicts()
    assert (row["username"], row["requested_by"]) == ("bob", "clara")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"enter_for_other": "y", "other_username": "nosuchuser"}, "other_username"),
        ({"auditors": "bob, nosuchuser"}, "auditors"),
    ],
)
@pytest.mark.parametrize("action", ["setup", "submit"])
def test_a_typed_name_that_is_no_user_is_refused_next_to_its_field_and_creates_nobody(
    app, client, login_as, make_user, post, fields, field, action
):
    from lightserv.extensions import db
    from lightserv.models import Account, EmailOutbox

    make_user("bob")
    login_as("clearing", "clara")
    resp = post(full_form(1, **fields) if action == "submit" else details(**fields), action)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    message = "No active user is named &#39;nosuchuser&#39;. Choose a name from the suggestions."
    if action == "setup":  # next to the field; once the samples are set up, under the details summary
        assert re.search(rf'name="{field}"[^>]*>\s*<div class="invalid-feedback">{re.escape(message)}</div>', html)
    assert message in html.split('data-testid="error-summary"', 1)[1]
    with app.app_context():
        assert not get_schemas().lightsheet.User & {"username": "nosuchuser"}
        assert db.session.get(Account, "nosuchuser") is None
        assert not get_schemas().lightsheet.Request() and not db.session.scalars(db.select(EmailOutbox)).all()


def test_the_name_fields_suggest_users_from_a_static_script(app, client, login_as):
    login_as("clearing", "clara")
    html = client.get("/requests/new").get_data(as_text=True)
    assert '<datalist id="user-suggestions" data-user-suggest="/users/suggest"></datalist>' in html
    for name in ("other_username", "auditors"):
        assert re.search(rf'<input[^>]*list="user-suggestions"[^>]*name="{name}"', html), name
    assert '<script src="/static/user-suggest.js"></script>' in html


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update({"samples-0-resolutions-0-channels-0-channel_name": "561"}), "unknown channel"),
        (lambda d: d.update(table(0, 1, "1.3x", {"488": ("generic_imaging",)})), "duplicate resolution"),
        (lambda d: d.update({"number_of_samples": "3"}), "number of samples"),
        (lambda d: d.update({"species": "dragon"}), "species"),
    ],
)
def test_tampered_read_only_parts_are_refused_with_400(app, client, login_as, post, mutate, reason):
    login_as("researcher", "ana")
    data = full_form(2)
    mutate(data)
    assert post(data, "submit").status_code == 400
    with app.app_context():
        assert not get_schemas().lightsheet.Request()


def test_an_unknown_form_action_is_a_400_with_a_message(client, login_as, post):
    login_as("researcher", "ana")
    resp = post(full_form(1), "launch_rockets")
    assert resp.status_code == 400
    assert "Unknown form action." in resp.get_data(as_text=True)


hostile = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "99999999999",
            "1.3x",
            "../../etc",
            "<script>",
            "' OR 1=1 --",
            "\x00",
            "%s%s",
            "{{7*7}}",
            "2030-13-45",
        ]
    ),
)
FIELDS = [
    "request_name",
    "description",
    "labname",
    "correspondence_email",
    "species",
    "number_of_samples",
    "raw_data_retention_preference",
    "auditors",
    "stage",
    "enter_for_other",
    "other_username",
    "samples-0-sample_name",
    "samples-0-clearing_protocol",
    "samples-0-perfusion_date",
    "samples-0-expected_handoff_date",
    "samples-0-resolutions-0-image_resolution",
    "samples-0-resolutions-0-channels-0-channel_name",
    "samples-0-resolutions-0-channels-0-registration",
    "samples-0-resolutions-0-atlas_name",
    "samples-0-new_resolution",
    "confirmed",
]
ACTIONS = [
    "setup",
    "submit",
    "copy_imaging",
    "copy_clearing",
    "change_details",
    "add_resolution:0",
    "remove_resolution:0:0",
    "add_resolution:7",
    "remove_resolution:3:9",
    "bogus",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(FIELDS), hostile, max_size=8), action=st.sampled_from(ACTIONS))
def test_random_and_hostile_posts_never_500_and_never_leave_a_partial_request(
    app, client, login_as, post, values, action
):
    if not _logged_in(client):
        login_as("researcher", "ana")
    data = full_form(1)
    data.update(values)
    resp = post(data, action)
    assert resp.status_code in (200, 302, 400), resp.status_code
    with app.app_context():
        ls = get_schemas().lightsheet
        for req in ls.Request().to_dicts():
            key = {"username": req["username"], "request_name": req["request_name"]}
            assert len(ls.Request.Sample & key) == req["number_of_samples"]
            assert len(ls.Request.ClearingBatchSample & key) == req["number_of_samples"]
            assert len(ls.Request.ImagingBatchSample & key) == req["number_of_samples"]
            # clean up so later examples start empty
            (ls.Request & key).delete(prompt=False)
            (ls.AntibodyHistory & key).delete(prompt=False)


def _logged_in(client) -> bool:
    with client.session_transaction() as sess:
        return "_user_id" in sess


def test_an_expired_submit_shows_the_input_again_and_writes_nothing(app, client, login_as):
    import time

    login_as("researcher", "ana")
    token = csrf_from(client.get("/requests/new").get_data(as_text=True))
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    try:
        time.sleep(2.2)
        resp = client.post("/requests/new", data={**full_form(2), "action": "submit", "csrf_token": token})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "This form expired. Please submit it again." in html and 'value="brains-002"' in html
    with app.app_context():
        assert not get_schemas().lightsheet.Request()
