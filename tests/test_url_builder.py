"""`url_builder` writes the links of a queue's rows (up to 300 a page) without calling `url_for` for each: its
links must be the ones `url_for` gives, for any value. (The queue pages' own tests check what the rows show.)"""

from __future__ import annotations

from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightserv.common.urls import url_builder

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(username=TEXT, request_name=TEXT, number=st.integers(min_value=0, max_value=10**9))
def test_built_links_are_the_links_url_for_gives(app, username, request_name, number):
    with app.test_request_context():
        build = url_builder("clearing.batch_form", ("username", "request_name", "number"))
        assert build((username, request_name, number)) == url_for(
            "clearing.batch_form", username=username, request_name=request_name, number=number
        )
        overview = url_builder("requests.overview", ("username", "request_name"))
        assert overview((username, request_name)) == url_for(
            "requests.overview", username=username, request_name=request_name
        )


def test_an_argument_outside_the_path_falls_back_to_url_for(app):
    """An argument the route does not take goes to the query string, quoted as a query: url_for builds it."""
    with app.test_request_context():
        build = url_builder("requests.overview", ("username", "request_name", "tab"))
        assert build(("ana", "brains", "a b&c")) == url_for(
            "requests.overview", username="ana", request_name="brains", tab="a b&c"
        )
