"""Fixtures of the requests tests: an empty DATA_ROOT, emails by subject, and request progress set directly."""

from __future__ import annotations

import pytest

from tests.support.waiting import wait_for


@pytest.fixture
def empty_data_root(settings):
    """DATA_ROOT is shared by the session: start tests that look at folders from an empty one."""
    import shutil

    for child in settings.data_root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    return settings.data_root


def emails_with_subject(smtp, subject: str, count: int = 1, timeout: float = 20.0) -> list:
    """Wait until `count` emails with exactly this subject reached the SMTP sink; returns (to, message) pairs."""

    def found():
        with smtp.lock:
            hits = [(to, m) for to, m in smtp.messages if m["Subject"] == subject]
        return hits if len(hits) >= count else None

    return wait_for(found, timeout, what=f"{count} email(s) with subject {subject!r}", interval=0.05)


@pytest.fixture
def set_progress(app):
    """set_progress(owner, name, clearing=, imaging=, processing=, failed_layer=False): move every clearing
    batch / imaging request / processing request of a submitted request to that state (direct DataJoint
    updates, as the clearing/imaging/processing services would), optionally adding a failed layer."""
    import datetime as dt

    from lightserv.db import get_schemas

    def move(owner: str, name: str, *, clearing=None, imaging=None, processing=None, failed_layer=False):
        with app.app_context():
            part = get_schemas().lightsheet.Request
            key = {"username": owner, "request_name": name}
            for table, column, value in (
                (part.ClearingBatch, "clearing_progress", clearing),
                (part.ImagingRequest, "imaging_progress", imaging),
                (part.ProcessingRequest, "processing_progress", processing),
            ):
                for row in (table & key).proj().to_dicts() if value else []:
                    table.update1({**row, column: value})
            if failed_layer:
                channel = (part.ImagingChannel & key).proj().to_dicts()[0]
                part.DataLayer.insert1(
                    {**channel, "processing_request_number": 0, "product": "raw", "lightsheet": "left"}
                    | {"layer_name": "raw_left", "layer_type": "image", "layer_path": "x", "source_path": "y"}
                    | {"status": "failed", "created_at": dt.datetime(2030, 1, 1)}
                )

    return move
