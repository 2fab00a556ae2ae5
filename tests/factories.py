"""Factories that build domain rows through the real services (so tests see what users would create)."""

from __future__ import annotations

import datetime as dt

from lightserv.requests.submission import ChannelWish, NewRequest, ResolutionWish, SampleWish

HANDOFF = dt.date(2030, 1, 15)


def channel(name: str, *purposes: str) -> ChannelWish:
    return ChannelWish(name, **{p: True for p in (purposes or ("generic_imaging",))})


def resolution(res: str, *channels: ChannelWish, **kw) -> ResolutionWish:
    return ResolutionWish(res, list(channels) or [channel("488")], **kw)


def sample(name: str, *resolutions: ResolutionWish, protocol: str = "idisco_abbreviated", **kw) -> SampleWish:
    kw.setdefault("expected_handoff_date", HANDOFF)
    return SampleWish(name, protocol, resolutions=list(resolutions) or [resolution("1.3x")], **kw)


def new_request(owner: str, name: str = "req1", samples: list[SampleWish] | None = None, **kw) -> NewRequest:
    samples = samples or [sample("s1")]
    kw.setdefault("description", "Test request")
    kw.setdefault("labname", "Test Lab")
    kw.setdefault("correspondence_email", f"{owner}@test.example")
    kw.setdefault("species", "mouse")
    kw.setdefault("raw_data_retention_preference", "not_sure")
    return NewRequest(owner=owner, request_name=name, number_of_samples=len(samples), samples=samples, **kw)


def submit(app, req: NewRequest, submitter: str | None = None):
    """Submit through the real service inside an app context; returns SubmitResult."""
    from lightserv.requests.services import submit_request

    with app.test_request_context():
        return submit_request(req, submitter or req.owner)


def layer_row(target, now: dt.datetime, status: str = "ready", **values) -> dict:
    """A DataLayer row for `target` (a LayerTarget) created at `now`: when ready, a small 8 x 8 x 2 uint16 image
    (5 x 5 x 10 um voxels, one scale) that became ready then; `values` override any column."""
    row = dict(target.key(), layer_name=target.name(), layer_type="image", layer_path=str(target.folder()),
               source_path="x", status=status, created_at=now, failure_reason="")  # fmt: skip
    if status == "ready":
        row.update(data_type="uint16", voxel_x_nm=5000.0, voxel_y_nm=5000.0, voxel_z_nm=10000.0, size_x=8, size_y=8,
                   size_z=2, num_scales=1, run_id=None, ready_at=now)  # fmt: skip
    return {**row, **values}
