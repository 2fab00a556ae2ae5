"""The clearing queue: three tables, colours and legend, sorting, paging, filters and
links that go where their labels say."""

from __future__ import annotations

import html as htmlmod
import re

import pytest

from schemas.catalogue import PROTOCOLS
from tests.clearing.conftest import batch_url, every_step_timed, login
from tests.factories import new_request, sample, submit


def rows_of(html: str, table: str) -> list[str]:
    """The data-batch values of one queue table, in order."""
    if f'data-testid="queue-{table}"' not in html:
        return []
    part = html.split(f'data-testid="queue-{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-batch="([^"]+)"', part)


@pytest.fixture
def queue_world(app, make_user, client, act, entry_form):
    ana, bob = make_user("ana"), make_user("bob")
    submit(
        app,
        new_request(
            ana,
            "brains",
            samples=[
                sample("s1", protocol="idisco_abbreviated"),
                sample("s2", protocol="udisco"),
                sample("s3", protocol="idisco_plus_immuno", antibody1="anti-GFP", antibody2="anti-chicken 488"),
            ],
        ),
    )
    submit(app, new_request(bob, "rats", species="rat", samples=[sample("r1", protocol="udisco_rat")]))
    submit(app, new_request(bob, "own", samples=[sample("o1", protocol="udisco", expected_handoff_date=None)],
                            self_clearing=True))  # fmt: skip
    cleo = make_user("cleo", roles=["clearing_staff"])
    login(client, cleo)
    act(batch_url(ana, "brains", 2, "/start"))
    act(batch_url(ana, "brains", 3, "/start"))
    fields, _, _ = entry_form(ana, "brains", 3)
    assert act(batch_url(ana, "brains", 3, "/complete"), every_step_timed(fields)).status_code == 303
    return cleo


def test_staff_see_three_tables_with_protocol_colours_and_a_legend_of_every_protocol(app, client, queue_world):
    html = client.get("/clearing/queue").get_data(as_text=True)
    assert rows_of(html, "in_progress") == ["ana/brains/2"]
    assert sorted(rows_of(html, "pending")) == ["ana/brains/1", "bob/own/1", "bob/rats/1"]
    assert rows_of(html, "complete") == ["ana/brains/3"]
    # the row colour means state, as in the request list; the protocol is a swatch beside its label
    assert '<tr class="status-pending" data-protocol="udisco"' in html
    assert '<tr class="status-progress" data-protocol="udisco"' in html
    assert '<tr class="status-complete" data-protocol="idisco_plus_immuno"' in html
    assert '<span class="protocol-swatch" style="background-color:#B8C7D9" aria-hidden="true"></span>uDISCO' in html
    legend = html.split('data-testid="protocol-legend"', 1)[1].split("</ul>", 1)[0]
    for p in PROTOCOLS:
        assert f"background-color:{p.colour}" in legend and htmlmod.escape(p.label) in legend
    assert "Not assigned" in html and "anti-GFP" in html
    assert "—" in html.split('data-batch="bob/own/1"', 1)[1].split("</tr>", 1)[0]  # no expected hand-off


def test_queue_links_go_where_their_labels_say(app, client, queue_world):
    html = client.get("/clearing/queue").get_data(as_text=True)
    in_progress = html.split('data-batch="ana/brains/2"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/clearing/batch/ana/brains/2" target="_blank" rel="noopener">Continue clearing</a>' in in_progress
    pending = html.split('data-batch="ana/brains/1"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/clearing/batch/ana/brains/1" target="_blank" rel="noopener">Open</a>' in pending
    done = html.split('data-batch="ana/brains/3"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/clearing/batch/ana/brains/3/log" target="_blank" rel="noopener">View clearing log</a>' in done
    assert client.get("/clearing/batch/ana/brains/3/log").status_code == 200


def test_tables_sort_by_any_column_in_either_direction(app, client, queue_world):
    up = client.get("/clearing/queue?table=pending&sort=owner&direction=asc").get_data(as_text=True)
    assert rows_of(up, "pending")[0].startswith("ana/")
    down = client.get("/clearing/queue?table=pending&sort=owner&direction=desc").get_data(as_text=True)
    assert rows_of(down, "pending")[-1].startswith("ana/")
    for column in ("progress", "submitted", "handoff", "protocol", "antibody1", "antibody2", "request", "clearer",
                   "species", "samples", "completed", "nonsense"):  # fmt: skip
        assert client.get(f"/clearing/queue?table=complete&sort={column}&direction=asc").status_code == 200


def test_filters_by_protocol_owner_and_own_batches(app, client, queue_world):
    html = client.get("/clearing/queue?protocol=udisco").get_data(as_text=True)
    assert rows_of(html, "pending") == ["bob/own/1"] and rows_of(html, "in_progress") == ["ana/brains/2"]
    html = client.get("/clearing/queue?owner=bob").get_data(as_text=True)
    assert sorted(rows_of(html, "pending")) == ["bob/own/1", "bob/rats/1"] and rows_of(html, "complete") == []
    html = client.get("/clearing/queue?mine=1").get_data(as_text=True)
    assert rows_of(html, "pending") == [] and rows_of(html, "in_progress") == ["ana/brains/2"]


def test_each_table_pages_50_rows(app, client, make_user, login_as):
    owner = make_user("ana")
    submit(app, new_request(owner, "many", samples=[sample(f"s{i}", antibody2=f"ab{i:02d}") for i in range(50)]))
    submit(app, new_request(owner, "one"))
    login_as("clearing", "cleo")
    first = client.get("/clearing/queue?table=pending&sort=request&direction=asc").get_data(as_text=True)
    assert len(rows_of(first, "pending")) == 50 and "Page 1 of 2 (51 batches)" in first
    second = client.get("/clearing/queue?table=pending&sort=request&direction=asc&page=2").get_data(as_text=True)
    assert rows_of(second, "pending") == ["ana/one/1"]
