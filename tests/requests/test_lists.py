"""The request list and the sample list: fractions and derived status,
visibility, SQL sorting and paging, filters, a bounded number of queries, and hostile query strings."""

from __future__ import annotations

import itertools
import re
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import datajoint as dj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightserv.common.status import COUNT_COLUMNS, STATUSES, derive_status, status_key_sql
from tests.factories import channel, new_request, resolution, sample, submit
from tests.support.auth import sign_in

ROW_RE = re.compile(r'<tr class="status-(\w+)" id="([^"]+)" data-testid="request-row">(.*?)</tr>', re.S)


def rows_of(html: str) -> list[dict]:
    """The request rows of a list page: id, status class and the three fractions."""
    found = []
    for status, row_id, body in ROW_RE.findall(html):
        cells = dict(re.findall(r'data-testid="(cleared|imaged|processed)">([^<]*)<', body))
        label = re.search(r'data-testid="status">([^<]+)<', body).group(1)
        found.append({"id": row_id, "status": status, "label": label, **cells})
    return found


def ids(html: str) -> list[str]:
    return [r["id"] for r in rows_of(html)]


def sample_names(html: str) -> list[str]:
    return re.findall(r'<tr data-testid="sample-row">\s*<td>([^<]+)</td>', html)


@contextmanager
def counting_queries():
    """Count the SQL statements sent through DataJoint connections inside the block."""
    calls: list[str] = []
    original = dj.Connection.query

    def query(self, sql, args=(), **kwargs):
        calls.append(sql)
        return original(self, sql, args, **kwargs)

    dj.Connection.query = query
    try:
        yield calls
    finally:
        dj.Connection.query = original


@pytest.fixture
def states(app, make_user, set_progress):
    """One request per derived status, owned by ana, plus a 2x-only request (0/0 processing)."""
    ana = make_user("ana")
    two = [sample("s1"), sample("s2")]
    submit(app, new_request(ana, "pending_req", two))
    submit(app, new_request(ana, "progress_req", [sample("s1"), sample("s2")]))
    set_progress(ana, "progress_req", clearing="in_progress")
    submit(app, new_request(ana, "complete_req", [sample("s1")]))
    set_progress(ana, "complete_req", clearing="complete", imaging="complete", processing="complete")
    submit(app, new_request(ana, "failed_req", [sample("s1")]))
    set_progress(ana, "failed_req", clearing="complete", imaging="complete", processing="failed")
    submit(app, new_request(ana, "layer_req", [sample("s1")]))
    set_progress(ana, "layer_req", clearing="complete", imaging="complete", processing="complete", failed_layer=True)
    submit(app, new_request(ana, "only2x", [sample("a", resolution("2x", channel("488")))]))
    set_progress(ana, "only2x", clearing="complete", imaging="skipped")
    return ana


def test_each_constructed_state_shows_its_fractions_status_label_and_row_colour(client, login_as, states):
    login_as("researcher", "ana")
    html = client.get("/requests/").get_data(as_text=True)
    got = {r["id"]: (r["cleared"], r["imaged"], r["processed"], r["status"], r["label"]) for r in rows_of(html)}
    assert got == {
        "ana-pending_req": ("0/2", "0/2", "0/2", "pending", "Pending"),
        "ana-progress_req": ("0/2", "0/2", "0/2", "progress", "In progress"),
        "ana-complete_req": ("1/1", "1/1", "1/1", "complete", "Complete"),
        "ana-failed_req": ("1/1", "1/1", "0/1", "attention", "Needs attention"),
        "ana-layer_req": ("1/1", "1/1", "1/1", "attention", "Needs attention"),
        "ana-only2x": ("1/1", "1/1", "0/0", "complete", "Complete"),  # skipped counts as done, 0/0 as complete
    }
    assert 'data-testid="status-legend"' in html
    assert "* A sample can have several imaging requests." in html
    assert "0/0 means no processing was requested." in html


def test_the_sql_status_rule_and_the_python_rule_agree_on_every_combination(app_ctx):
    from lightserv.db import get_schemas

    conn = get_schemas().connection
    columns = ", ".join(f"%s AS {name}" for name in COUNT_COLUMNS)
    for values in itertools.product([0, 1, 2], repeat=4):
        cleared, imaged, processed, started = values
        for failed, layers in ((0, 0), (1, 0), (0, 1)):
            counts = dict(
                samples=2,
                cleared=cleared,
                clearing_started=started,
                imaged=imaged,
                imaging_total=2,
                processed=processed,
                processing_total=processed and 2,
                processing_failed=failed,
                layers_failed=layers,
            )
            sql = f"SELECT {status_key_sql('c.')} AS k FROM (SELECT {columns}) c"
            key = conn.query(sql, args=tuple(counts[n] for n in COUNT_COLUMNS)).fetchone()[0]
            assert key == derive_status(counts).key, counts


@pytest.fixture
def shared(app, make_user):
    """owner's request shared with an auditor and a collaborator; plus a stranger and staff."""
    from lightserv.db import get_schemas

    users = {s: make_user(s) for s in ("owner", "auditor", "collab", "stranger")}
    users["clearer"] = make_user("clearer", roles=["clearing_staff"])
    users["admin"] = make_user("admin", roles=["facility_admin"])
    submit(app, new_request("owner", "shared_req", [sample("s1"), sample("s2")], auditors=["auditor", "collab"]))
    submit(app, new_request("admin", "admins_own", [sample("x1")]))
    with app.app_context():
        get_schemas().lightsheet.Request.Access.update1(
            {"username": "owner", "request_name": "shared_req", "grantee": "collab", "access_level": "collaborator"}
        )
    return users


def as_user(client, username: str) -> None:
    sign_in(client, username, clear=True)


@pytest.mark.parametrize(
    "user,sees,legend",
    [
        ("owner", True, "Your requests"),
        ("auditor", True, "Shared with you"),
        ("collab", True, "Shared with you"),
        ("clearer", True, "All facility requests"),
        ("admin", True, "All facility requests"),
        ("stranger", False, "Your requests"),
    ],
)
def test_who_sees_a_request_and_its_samples_in_the_lists(client, shared, user, sees, legend):
    as_user(client, user)
    html = client.get("/requests/").get_data(as_text=True)
    assert ("owner-shared_req" in ids(html)) is sees
    assert f'data-testid="legend">{legend}<' in html
    samples = client.get("/requests/samples").get_data(as_text=True)
    assert ("shared_req" in samples) is sees
    assert f'data-testid="legend">{legend.replace("requests", "samples")}<' in samples


def test_staff_can_narrow_the_list_to_their_own_requests(client, shared):
    as_user(client, "admin")
    assert sorted(ids(client.get("/requests/").get_data(as_text=True))) == ["admin-admins_own", "owner-shared_req"]
    html = client.get("/requests/?mine=1").get_data(as_text=True)
    assert ids(html) == ["admin-admins_own"] and 'data-testid="legend">Your requests<' in html
    as_user(client, "owner")  # the toggle means nothing to non-staff and shows no owner filter
    html = client.get("/requests/?mine=1&owner=admin").get_data(as_text=True)
    assert ids(html) == ["owner-shared_req"] and 'id="filter-owner"' not in html


def test_actions_follow_the_viewers_rights_and_name_the_facility_contact(client, shared, set_progress):
    as_user(client, "owner")
    row = client.get("/requests/").get_data(as_text=True).split('id="owner-shared_req"', 1)[1].split("</tr>", 1)[0]
    assert "View status" in row and "Request additional imaging" in row and 'data-testid="delete-trigger"' in row
    as_user(client, "auditor")
    row = client.get("/requests/").get_data(as_text=True).split('id="owner-shared_req"', 1)[1].split("</tr>", 1)[0]
    assert "Request additional imaging" not in row and "delete-trigger" not in row
    assert "delete" not in row.lower() and "N/A" not in row  # no action an auditor cannot take
    as_user(client, "collab")
    row = client.get("/requests/").get_data(as_text=True).split('id="owner-shared_req"', 1)[1].split("</tr>", 1)[0]
    assert "Request additional imaging" in row and "delete-trigger" not in row
    set_progress("owner", "shared_req", clearing="in_progress")
    as_user(client, "owner")
    row = client.get("/requests/").get_data(as_text=True).split('id="owner-shared_req"', 1)[1].split("</tr>", 1)[0]
    assert "delete-trigger" not in row and "Clearing has already started for this request" in row
    assert "core@test.example" in row


def test_archival_requests_offer_no_additional_imaging(app, client, shared):
    from lightserv.db import get_schemas

    with app.app_context():
        get_schemas().lightsheet.Request.update1({"username": "owner", "request_name": "shared_req", "is_archival": 1})
    as_user(client, "owner")
    row = client.get("/requests/").get_data(as_text=True).split('id="owner-shared_req"', 1)[1].split("</tr>", 1)[0]
    assert "Request additional imaging" not in row and "<td>yes</td>" in row
    assert "Start a new request" in client.get("/requests/").get_data(as_text=True)


@pytest.mark.parametrize(
    "query,expected",
    [
        ("sort=request_name&direction=asc", ["complete_req", "failed_req", "layer_req", "only2x", "pending_req"]),
        ("sort=status&direction=asc", ["pending_req", "progress_req", "failed_req", "layer_req", "complete_req"]),
        ("sort=processed&direction=asc", ["failed_req", "pending_req", "progress_req", "complete_req", "layer_req"]),
        # ties are broken by owner and name in the same direction
        ("sort=cleared&direction=desc", ["only2x", "layer_req", "failed_req", "complete_req", "progress_req"]),
        ("sort=number_of_samples&direction=desc", ["progress_req", "pending_req", "only2x", "layer_req"]),
    ],
)
def test_sorting_by_whitelisted_columns_including_fractions_and_status(client, login_as, states, query, expected):
    login_as("researcher", "ana")
    got = [i.removeprefix("ana-") for i in ids(client.get(f"/requests/?{query}").get_data(as_text=True))]
    assert got[: len(expected)] == expected


def test_filters_by_status_species_search_owner_and_testing(app, client, make_user, login_as, states):
    submit(app, new_request(states, "ratty", [sample("r1", protocol="idisco_abbreviated_rat")], species="rat"))
    submit(app, new_request(states, "trial_run", [sample("t1")], testing=True, description="Protocol 50% test"))
    as_user(client, "ana")

    def listed(query):
        return sorted(i.removeprefix("ana-") for i in ids(client.get(f"/requests/?{query}").get_data(as_text=True)))

    assert listed("status=attention") == ["failed_req", "layer_req"]
    assert listed("status=complete&sort=status") == ["complete_req", "only2x"]
    assert listed("species=rat") == ["ratty"]
    assert listed("q=LAYER") == ["layer_req"]  # case-insensitive, name or description
    assert "trial_run" not in listed("")  # testing requests are left out by default for researchers
    assert listed("q=%25&testing=0&testing=1") == ["trial_run"]  # "%" is a literal, not a wildcard
    assert listed("q=_req&testing=1") == ["complete_req", "failed_req", "layer_req", "pending_req", "progress_req"]
    make_user("boss", roles=["imaging_staff"])
    submit(app, new_request("boss", "boss_req", [sample("b1")]))
    as_user(client, "boss")
    html = client.get("/requests/?owner=ana&q=ratty").get_data(as_text=True)
    assert ids(html) == ["ana-ratty"] and 'value="ana"' in html
    assert "ana-trial_run" in ids(client.get("/requests/?owner=ana").get_data(as_text=True))  # staff: on by default


def test_fifty_rows_per_page_and_the_pager_keeps_filters(app, client, make_user, login_as):
    make_user("ana")
    for i in range(52):
        submit(app, new_request("ana", f"r{i:02d}", [sample("s1")]))
    as_user(client, "ana")
    first = client.get("/requests/?sort=request_name&direction=asc&q=r").get_data(as_text=True)
    assert len(ids(first)) == 50 and ids(first)[0] == "ana-r00"
    assert "Page 1 of 2 (52 rows)" in first
    next_link = re.search(r'href="([^"]+)">Next<', first).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_link).query) == {
        "sort": ["request_name"],
        "direction": ["asc"],
        "q": ["r"],
        "testing": ["0"],
        "page": ["2"],
    }
    second = client.get("/requests/?sort=request_name&direction=asc&q=r&page=2").get_data(as_text=True)
    assert ids(second) == ["ana-r50", "ana-r51"]
    beyond = client.get("/requests/?page=7").get_data(as_text=True)
    assert ids(beyond) == [] and "Page 7 of 2 (52 rows)" in beyond and "Last page" in beyond
    samples = client.get("/requests/samples?page=2").get_data(as_text=True)
    assert sample_names(samples) == ["s1", "s1"] and "Page 2 of 2 (52 rows)" in samples


def test_a_list_page_costs_the_same_number_of_queries_whatever_the_number_of_rows(app, client, make_user):
    make_user("ana")
    as_user(client, "ana")
    costs = []
    for first, last in ((0, 2), (2, 12)):  # 2 requests, then 12
        for i in range(first, last):
            samples = [sample("s1", resolution("1.3x"), resolution("3.6x")), sample("s2")]
            submit(app, new_request("ana", f"q{i:02d}", samples))
        client.get("/requests/")  # warm DataJoint's caches of table headings
        client.get("/requests/samples")
        with counting_queries() as calls:
            assert client.get("/requests/").status_code == 200
        with counting_queries() as sample_calls:
            assert client.get("/requests/samples").status_code == 200
        with counting_queries() as sorted_calls:
            assert client.get("/requests/?sort=status&status=pending").status_code == 200
        costs.append((len(calls), len(sample_calls), len(sorted_calls)))
    assert costs[0] == costs[1], costs
    # the request rows, counts and status come from one statement reading the stored counts (the rest is the
    # menu and the row count); sorting and filtering by status aggregate nothing
    assert sum("my_access" in sql for sql in calls) == 1 and sum("my_access" in sql for sql in sorted_calls) == 1
    assert not [sql for sql in calls + sorted_calls if "GROUP BY" in sql.upper()]


def test_sample_list_shows_every_imaging_and_processing_request_with_links(app, client, make_user, set_progress):
    from lightserv.db import get_schemas

    make_user("ana")
    submit(app, new_request("ana", "nested", [sample("s1", resolution("1.3x"), resolution("2x")), sample("s2")]))
    set_progress("ana", "nested", clearing="complete", imaging="complete")
    with app.app_context():
        part = get_schemas().lightsheet.Request
        ir = (part.ImagingRequest & {"sample_name": "s1"}).to_dicts()[0]
        part.ImagingRequest.insert1({**ir, "imaging_request_number": 2, "imaging_progress": "pending"})
        pr = (part.ProcessingRequest & {"sample_name": "s1"}).to_dicts()[0]
        part.ProcessingRequest.insert1({**pr, "processing_request_number": 2})
    as_user(client, "ana")
    html = client.get("/requests/samples").get_data(as_text=True)
    assert sample_names(html) == ["s1", "s2"]
    s1 = html.split('<tr data-testid="sample-row">', 2)[1]
    assert s1.count('data-testid="imaging-request"') == 2
    assert s1.count('data-testid="processing-request"') == 3  # #1 and #2 of imaging 1, "N/A" for imaging 2
    assert "Processing N/A" in s1 and "(1.3x, 2x)" in s1
    assert "/clearing/batch/ana/nested/1/log" in s1  # clearing complete: its log
    assert "iDISCO" in s1 and "Cleared" in s1


def test_sample_list_sorts_and_filters_in_sql(app, client, make_user, set_progress):
    make_user("ana")
    submit(app, new_request("ana", "bbb", [sample("z9"), sample("a1")]))
    submit(app, new_request("ana", "aaa", [sample("m5")]))
    set_progress("ana", "bbb", clearing="in_progress")
    as_user(client, "ana")
    assert sample_names(client.get("/requests/samples").get_data(as_text=True)) == ["m5", "a1", "z9"]
    html = client.get("/requests/samples?sort=sample_name&direction=desc").get_data(as_text=True)
    assert sample_names(html) == ["z9", "m5", "a1"]
    html = client.get("/requests/samples?sort=clearing_progress&direction=asc").get_data(as_text=True)
    assert sample_names(html) == ["m5", "a1", "z9"]  # pending before in progress
    assert sample_names(client.get("/requests/samples?q=Z9").get_data(as_text=True)) == ["z9"]
    assert "Not assigned" in html and "N/A" in html


HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "-1",
            "0",
            "9" * 5000,
            "1e9",
            "desc;DROP TABLE request",
            "' OR '1'='1",
            "%",
            "_",
            "\\",
            "!",
            "\x00",
            "javascript:alert(1)",
            "../../etc/passwd",
            "status",
            "attention",
            "rat",
            "1",
        ]
    ),
)
KEYS = st.sampled_from(
    ["page", "sort", "direction", "status", "species", "owner", "q", "testing", "mine", "activity_page"]
    + ["_scheme", "_external", "_anchor", "_method", "username", "request_name"]
)


@pytest.mark.parametrize("path", ["/requests/", "/requests/samples"])
@pytest.mark.parametrize("role", ["researcher", "admin"])
def test_random_and_hostile_query_strings_never_cause_a_server_error(app, client, make_user, login_as, path, role):
    make_user("ana")
    submit(app, new_request("ana", "fuzzed", [sample("s1")]))
    login_as(role, "ana" if role == "researcher" else None)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.one_of(KEYS, st.text(max_size=10)), HOSTILE), max_size=6))
    def check(pairs):
        resp = client.get(path, query_string=pairs)
        assert resp.status_code == 200, (pairs, resp.status_code)

    check()


def test_every_status_key_is_offered_as_a_filter(client, login_as):
    login_as("researcher")
    html = client.get("/requests/").get_data(as_text=True)
    for status in STATUSES.values():
        assert f'<option value="{status.key}">{status.label}</option>' in html


def test_imaging_numbers_link_to_the_imaging_log_once_imaged_except_for_archival_requests(
    app, client, make_user, set_progress
):
    from lightserv.db import get_schemas

    make_user("ana")
    submit(app, new_request("ana", "logs", [sample("s1")]))
    as_user(client, "ana")
    assert "/imaging/log/" not in client.get("/requests/samples").get_data(as_text=True)  # pending: plain text
    set_progress("ana", "logs", clearing="complete", imaging="skipped")
    html = client.get("/requests/samples").get_data(as_text=True)
    assert 'href="/imaging/log/ana/logs/s1/1">#1</a>' in html
    # the request page's sample card links the same log from its imaging line
    request_page = client.get("/requests/ana/logs").get_data(as_text=True)
    assert 'href="/imaging/log/ana/logs/s1/1">Imaging log</a>' in request_page
    with app.app_context():
        get_schemas().lightsheet.Request.update1({"username": "ana", "request_name": "logs", "is_archival": 1})
    assert "/imaging/log/" not in client.get("/requests/samples").get_data(as_text=True)
