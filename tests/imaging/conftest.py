"""Helpers for the imaging-queue and batch tests: real requests built through the submit service."""

from __future__ import annotations

import pytest

from tests.support.auth import login as login  # the tests import it from here


def batch_url(owner: str = "ana", name: str = "brains", cb: int = 1, ir: int = 1, ib: int = 1, suffix: str = "") -> str:
    return f"/imaging/batch/{owner}/{name}/{cb}/{ir}/{ib}{suffix}"


def finish_clearing(app, owner: str = "ana", name: str = "brains", number: int = 1) -> None:
    from lightserv.db import get_schemas

    with app.app_context():
        key = {"username": owner, "request_name": name, "clearing_batch_number": number}
        get_schemas().lightsheet.Request.ClearingBatch.update1({**key, "clearing_progress": "complete"})


def imaging_batch(app, owner: str = "ana", name: str = "brains", cb: int = 1, ir: int = 1, ib: int = 1) -> dict:
    from lightserv.db import get_schemas

    with app.app_context():
        key = dict(
            username=owner,
            request_name=name,
            clearing_batch_number=cb,
            imaging_request_number=ir,
            imaging_batch_number=ib,
        )
        return (get_schemas().lightsheet.Request.ImagingBatch & key).to_dicts()[0]


def imaging_requests(app, owner: str = "ana", name: str = "brains") -> dict[str, dict]:
    from lightserv.db import get_schemas

    with app.app_context():
        rows = (get_schemas().lightsheet.Request.ImagingRequest & {"username": owner, "request_name": name}).to_dicts()
        return {r["sample_name"]: r for r in rows}


@pytest.fixture(autouse=True)
def clean_data_root(app):
    """DATA_ROOT is shared by the whole session: remove the raw data and layers these tests wrote."""
    import shutil

    yield
    shutil.rmtree(app.config["SETTINGS"].data_root / "ana", ignore_errors=True)
