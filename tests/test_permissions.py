"""The permission matrix: every route declares a rule and answers each role as the matrix says.

Every later route joins `ROUTES` below; the first test fails for any endpoint missing from it.
"""

from __future__ import annotations

import pytest

from lightserv.common.permissions import ACTIONS, rule_of
from tests.factories import new_request, submit
from tests.matrix import SUBJECTS, all_rows, answer, matrix_url
from tests.support.auth import login_session_keys

ROUTES = all_rows()
UNCHECKED = {"static", "bootstrap.static"}
SUBJECT_ROLES = {
    "clearing": ["clearing_staff"],
    "imaging": ["imaging_staff"],
    "processing": ["processing_staff"],
    "admin": ["facility_admin"],
}


def test_every_route_declares_a_permission_and_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - UNCHECKED
    missing_rule = sorted(e for e in endpoints if rule_of(app.view_functions[e]) is None)
    assert not missing_rule, f"routes without an explicit permission: {missing_rule}"
    missing_row = sorted(endpoints - set(ROUTES))
    assert not missing_row, f"routes missing from the permission-matrix test (tests/matrix/): {missing_row}"
    stale = sorted(set(ROUTES) - endpoints)
    assert not stale, f"matrix rows for routes that do not exist: {stale}"


@pytest.fixture
def matrix_world(app, make_user):
    """Users for every subject and one request owned by "owner" shared with "auditor" and "collaborator"."""
    users = {s: make_user(f"m-{s}", roles=SUBJECT_ROLES.get(s, ())) for s in SUBJECTS if s != "anonymous"}
    logins = {s: login_session_keys(app, name) for s, name in users.items()}
    submit(app, new_request(users["owner"], "matrix_req", auditors=[users["auditor"], users["collaborator"]]))
    from lightserv.db import get_schemas

    with app.app_context():
        get_schemas().lightsheet.Request.Access.update1(
            {
                "username": users["owner"],
                "request_name": "matrix_req",
                "grantee": users["collaborator"],
                "access_level": "collaborator",
            }
        )
    from lightserv.runs.engine import create_run
    from lightserv.runs.model import StageDef

    with app.test_request_context():
        users["run"] = create_run(
            "precomputed_raw",
            {
                "username": users["owner"],
                "request_name": "matrix_req",
                "sample_name": "s1",
                "imaging_request_number": 1,
                "image_resolution": "1.3x",
                "channel_name": "488",
            },
            [StageDef("info", "lib.cluster.types")],
            {},
            created_by="system",
            output_dir="x",
        )
    from tests.matrix.viewer import viewer_world

    users.update(viewer_world(app, users))  # {link}, {session}
    users["logins"] = logins
    return users


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_route_answers_each_subject_as_the_matrix_says(app, client, matrix_world, endpoint):
    method, url_template, expected = ROUTES[endpoint]
    url = matrix_url(url_template, matrix_world)
    got = {subject: answer(client, matrix_world, subject, method, url).status_code for subject in expected}
    assert got == expected, f"{endpoint} {url}: got {got}"


# The permission matrix as a table: action -> set of (role or relation) that may do it.
MATRIX = {
    "request.submit_for_other": {"clearing_staff", "facility_admin"},
    "request.delete": {"owner", "facility_admin"},
    "request.manage_access": {"owner", "facility_admin"},
    "request.add_imaging": {"owner", "collaborator", "imaging_staff", "facility_admin"},
    "request.add_processing": {"owner", "collaborator", "processing_staff", "facility_admin"},
    "request.feedback": {"owner", "collaborator"},
    "request.view": {
        "owner",
        "auditor",
        "collaborator",
        "clearing_staff",
        "imaging_staff",
        "processing_staff",
        "facility_admin",
    },
    "processing.manage_runs": {"processing_staff", "facility_admin"},
    "antibody.edit_overview": {"clearing_staff", "facility_admin"},
    "antibody.edit_history": {"owner", "clearing_staff", "facility_admin"},
    "admin": {"facility_admin"},
}
RULE_SUBJECTS = [
    "owner",
    "auditor",
    "collaborator",
    "clearing_staff",
    "imaging_staff",
    "processing_staff",
    "facility_admin",
    "stranger",
]


@pytest.mark.parametrize("action", sorted(MATRIX))
def test_action_rules_match_the_readme_matrix(action):
    rule = ACTIONS[action]
    allowed = set()
    for subject in RULE_SUBJECTS:
        if subject in ("owner", "auditor", "collaborator"):
            ok = rule.allows((), subject)
        elif subject == "stranger":
            ok = rule.allows((), None)
        else:
            ok = rule.allows((subject,), None)
        if ok:
            allowed.add(subject)
    assert allowed == MATRIX[action]


NAV_OF_ROLE = {
    "researcher": ["Home", "Requests", "Antibodies"],
    "clearing": ["Home", "Requests", "Clearing", "Antibodies"],
    "imaging": ["Home", "Requests", "Imaging", "Antibodies"],
    "processing": ["Home", "Requests", "Processing", "Antibodies"],
    "admin": [
        "Home",
        "Requests",
        "Clearing",
        "Imaging",
        "Processing",
        "Antibodies",
        "Dashboard",
        "Users & roles",
        "Event log",
        "Storage",
        "Viewer sessions",
    ],
}


@pytest.mark.parametrize("role", sorted(NAV_OF_ROLE))
def test_navigation_shows_exactly_the_links_the_role_can_use(app, client, login_as, role):
    import re

    login_as(role)
    html = client.get("/requests/").get_data(as_text=True)
    nav = html.split('data-testid="nav"', 1)[1].split("</ul>", 1)[0]
    found = re.findall(r'class="nav-link[^"]*"[^>]*>([^<]+)</a>', nav)
    labels = [label.strip().replace("&amp;", "&") for label in found]
    assert labels == NAV_OF_ROLE[role] + ["About"]
    for href in re.findall(r'href="([^"]+)"', nav):
        assert client.get(href).status_code == 200, f"{role} sees a link to {href} they cannot open"
