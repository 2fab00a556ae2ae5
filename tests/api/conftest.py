"""A small world for the API tests: two researchers, one sharing, staff, a stranger, a run and a layer."""

from __future__ import annotations

import pytest

from tests.factories import new_request, sample, submit


@pytest.fixture
def world(app, make_user):
    """ana owns `alpha` (shared with bo as auditor) and `beta`; bo owns `gamma`; cleo is clearing
    staff; zed is a researcher with no relation to anything. `alpha` has a raw layer and its run."""
    users = {
        "ana": make_user("ana"),
        "bo": make_user("bo"),
        "cleo": make_user("cleo", roles=["clearing_staff"]),
        "zed": make_user("zed"),
    }
    submit(app, new_request("ana", "alpha", samples=[sample("s1"), sample("s2")], auditors=["bo"]))
    submit(app, new_request("ana", "beta"))
    submit(app, new_request("bo", "gamma"))
    from lightserv.layers.services import LayerTarget, convert_image_layer

    with app.test_request_context():
        target = LayerTarget("ana", "alpha", "s1", 1, "1.3x", "488", "raw", lightsheet="left")
        users["run_id"] = convert_image_layer(target, "nowhere", voxel_size_nm=(5000, 5000, 10000), n_planes=3)
    return users


@pytest.fixture
def token_of(app):
    """token_of("ana") -> a fresh API token of ana."""
    from lightserv.api.tokens import create_token

    def make(username: str) -> str:
        with app.app_context():
            return create_token(username, actor=username)

    return make


@pytest.fixture
def api(app):
    """api(path, token) -> response of a GET without any browser session."""

    def get(path: str, token: str | None = None, **headers):
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return app.test_client().get(path, headers=headers)

    return get
