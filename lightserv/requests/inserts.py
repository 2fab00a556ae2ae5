"""The rows a new request writes below its samples: imaging requests with their resolutions and channels,
imaging batches, and processing requests. Each runs inside the caller's transaction."""

from __future__ import annotations

import datetime as dt

from schemas.enums import MICROSCOPE_OF_RESOLUTION

from .submission import ChannelWish, SampleWish, processable

#: the other columns of a requested channel as a new request writes them: upright, not imaged yet, imaging defaults
_CHANNEL_NOT_YET_IMAGED = dict(
    ventral_up=0,
    added_during_imaging=0,
    imaging_date=None,
    image_orientation="horizontal",
    left_lightsheet_used=1,
    right_lightsheet_used=1,
    tiling_scheme="1x1",
    tiling_overlap=0.0,
    z_step=10.0,
    number_of_z_planes=None,
    rawdata_subfolder=None,
    imspector_channel_index=None,
    numerical_aperture=None,
    pixel_type=None,
)


def _imaging_key(key: dict, sample: SampleWish, number: int) -> dict:
    return dict(**key, sample_name=sample.sample_name, imaging_request_number=number)


def _requested_channel(ikey: dict, image_resolution: str, c: ChannelWish) -> dict:
    """A channel row as requested: its purposes, and the imaging columns not filled in yet."""
    return dict(
        **ikey,
        image_resolution=image_resolution,
        channel_name=c.channel_name,
        registration=int(c.registration),
        injection_detection=int(c.injection_detection),
        probe_detection=int(c.probe_detection),
        cell_detection=int(c.cell_detection),
        generic_imaging=int(c.generic_imaging),
        zoom_body_magnification=1.00 if image_resolution == "2x" else None,
        **_CHANNEL_NOT_YET_IMAGED,
    )


def insert_imaging_request(
    ls,
    key: dict,
    number: int,
    samples: list[SampleWish],
    *,
    owner: str,
    self_imaging: bool,
    submitter: str,
    now: dt.datetime,
) -> None:
    """ImagingRequest `number` for each sample, with its resolution requests and requested channels."""
    ls.Request.ImagingRequest.insert(
        [
            dict(
                _imaging_key(key, s, number),
                requested_by=submitter,
                submitted_at=now,
                imager=owner if self_imaging else None,
                self_imaging=int(self_imaging),
                imaging_progress="pending",
                imaging_performed_date=None,
                skip_reason="",
                notes_from_imaging="",
                validation_status="none",
                validation_messages=None,
            )
            for s in samples
        ]
    )
    ls.Request.ImagingResolutionRequest.insert(
        [
            dict(
                _imaging_key(key, s, number),
                image_resolution=r.image_resolution,
                microscope=MICROSCOPE_OF_RESOLUTION[r.image_resolution],
                notes_for_imager=r.notes_for_imager,
            )
            for s in samples
            for r in s.resolutions
        ]
    )
    channel_rows = [
        _requested_channel(_imaging_key(key, s, number), r.image_resolution, c)
        for s in samples
        for r in s.resolutions
        for c in r.requested_channels()
    ]
    if channel_rows:
        ls.Request.ImagingChannel.insert(channel_rows)


def insert_imaging_batches(
    ls, key: dict, number: int, plans, samples: list[SampleWish], *, imager: str | None, now: dt.datetime
) -> None:
    """Imaging batches of imaging request `number` and their member rows."""
    batch_keys = [
        (
            ib,
            dict(
                **key,
                clearing_batch_number=ib.clearing_batch_number,
                imaging_request_number=number,
                imaging_batch_number=ib.number,
            ),
        )
        for ib in plans
    ]
    ls.Request.ImagingBatch.insert(
        [
            dict(
                bkey,
                imager=imager,
                number_in_imaging_batch=len(ib.sample_indexes),
                submitted_at=now,
                imaging_progress="pending",
                claimed_at=None,
                started_at=None,
                completed_at=None,
                imaging_performed_date=None,
                imaging_signature=ib.signature,
            )
            for ib, bkey in batch_keys
        ]
    )
    ls.Request.ImagingBatchSample.insert(
        [dict(bkey, sample_name=samples[i].sample_name) for ib, bkey in batch_keys for i in ib.sample_indexes]
    )


def insert_processing_request(ls, pkey: dict, *, submitter: str, now: dt.datetime) -> None:
    """One pending processing request; `pkey` names its sample, imaging and processing request numbers."""
    ls.Request.ProcessingRequest.insert1(
        dict(
            **pkey,
            requested_by=submitter,
            submitted_at=now,
            processor=None,
            processing_progress="pending",
            started_at=None,
            completed_at=None,
            notes_from_processing="",
            failure_summary="",
        )
    )


def processing_resolution_row(
    pkey: dict, image_resolution: str, *, ventral_up: int, atlas_name: str, final_orientation: str, notes: str
) -> dict:
    """A processing resolution request of the processing request `pkey`, not started yet."""
    return dict(
        **pkey,
        image_resolution=image_resolution,
        ventral_up=ventral_up,
        atlas_name=atlas_name,
        final_orientation=final_orientation,
        notes_for_processor=notes,
        pipeline_status="not_started",
        output_dir=None,
    )


def insert_processing_requests(
    ls, key: dict, imaging_number: int, samples: list[SampleWish], *, submitter: str, now: dt.datetime
) -> int:
    """Processing request 1 of imaging request `imaging_number` for each sample with a processable
    resolution; a sample with only 2x gets none. Returns how many were created."""
    count = 0
    for s in samples:
        todo = processable(s.resolutions)
        if not todo:
            continue
        count += 1
        pkey = dict(
            **key, sample_name=s.sample_name, imaging_request_number=imaging_number, processing_request_number=1
        )
        insert_processing_request(ls, pkey, submitter=submitter, now=now)
        ls.Request.ProcessingResolutionRequest.insert(
            [
                processing_resolution_row(
                    pkey,
                    r.image_resolution,
                    ventral_up=0,
                    atlas_name=r.atlas_name,
                    final_orientation=r.final_orientation,
                    notes=r.notes_for_processor,
                )
                for r in todo
            ]
        )
    return count
