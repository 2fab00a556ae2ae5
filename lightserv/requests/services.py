"""Writes of the requests blueprint. Each service validates, writes in one transaction, appends its
event inside that transaction, and only after the commit queues emails and folder tasks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from flask import current_app

from lightserv.auth.services import ensure_user
from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import commit_and_send, enqueue
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas

from . import emails
from .inserts import insert_imaging_batches, insert_imaging_request, insert_processing_requests
from .queries import people
from .submission import (
    DEFAULT_REGISTRATION_CHANNELS,
    Catalogue,
    ClearingBatchPlan,
    Errors,
    NewRequest,
    plan_clearing_batches,
    plan_imaging_batches,
    validate_new_request,
)


class RequestError(DomainError):
    """A domain error; `errors` maps form fields to messages."""

    def __init__(self, errors: Errors | dict[str, list[str]]):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors


def registration_channels(settings) -> dict[str, tuple[str, ...]]:
    """REGISTRATION_CHANNELS="lavision:488,555;smartspim:488,561,642,785" (default as shown)."""
    raw = getattr(settings, "registration_channels", "") or ""
    result = dict(DEFAULT_REGISTRATION_CHANNELS)
    for part in raw.split(";"):
        if ":" in part:
            scope, values = part.split(":", 1)
            result[scope.strip()] = tuple(v.strip() for v in values.split(",") if v.strip())
    return result


def load_catalogue(owner: str, named=()) -> Catalogue:
    """What validation needs from the database for a request of `owner` naming the users `named`."""
    ls = get_schemas().lightsheet
    protocols = {row["protocol"]: row for row in ls.ClearingProtocol().to_dicts(order_by=["sort_order", "protocol"])}
    atlases = frozenset(r["atlas_name"] for r in (ls.Atlas & "is_active = 1").to_dicts())
    existing = frozenset(r["request_name"].lower() for r in (ls.Request & {"username": owner}).keys())
    return Catalogue(
        protocols=protocols,
        active_atlases=atlases,
        registration_channels=registration_channels(current_app.config["SETTINGS"]),
        existing_request_names=existing,
        named_users=people.active_usernames(named),
    )


@dataclass(frozen=True)
class SubmitResult:
    owner: str
    request_name: str
    clearing_batches: int
    imaging_batches: int
    processing_requests: int


def _as_event_document(req: NewRequest) -> dict:
    return dataclasses.asdict(req)


def submit_request(req: NewRequest, submitter: str) -> SubmitResult:
    """Create the request and all its part rows in one transaction, then queue folders and emails."""
    catalogue = load_catalogue(req.owner, req.auditors)
    errors = validate_new_request(req, catalogue)
    if errors:
        raise RequestError(errors)
    schemas = get_schemas()
    ls = schemas.lightsheet
    conn = schemas.connection
    now = utcnow()
    key = {"username": req.owner, "request_name": req.request_name}
    clearing = plan_clearing_batches(req.samples)
    imaging = plan_imaging_batches(req.samples, clearing)
    batch_of_sample = {i: cb.number for cb in clearing for i in cb.sample_indexes}
    with conn.transaction:
        _insert_users(ls, {req.owner, submitter}, now)  # auditors are active users already: validated above
        _insert_request(ls, key, req, submitter, now)
        _insert_samples(ls, key, req)
        _insert_clearing_batches(ls, key, req, clearing, now)
        antibody_rows = _antibody_history_rows(req, clearing, submitter, now)
        if antibody_rows:
            ls.AntibodyHistory.insert(antibody_rows)
        insert_imaging_request(
            ls, key, 1, req.samples, owner=req.owner, self_imaging=req.self_imaging, submitter=submitter, now=now
        )
        insert_imaging_batches(
            ls, key, 1, imaging, req.samples, imager=req.owner if req.self_imaging else None, now=now
        )
        assert all(batch_of_sample[i] == ib.clearing_batch_number for ib in imaging for i in ib.sample_indexes)
        processing_count = insert_processing_requests(ls, key, 1, req.samples, submitter=submitter, now=now)
        record_event(
            "request.submitted",
            "request",
            key,
            f"Request {req.owner}/{req.request_name} submitted with {len(req.samples)} sample(s)",
            request_key=(req.owner, req.request_name),
            after=_as_event_document(req),
            actor=submitter,
            dj_conn=conn,
        )
    _after_submit(req, submitter, clearing, now)
    return SubmitResult(req.owner, req.request_name, len(clearing), len(imaging), processing_count)


def _insert_users(ls, usernames: set[str], now: dt.datetime) -> None:
    """A user row for each of `usernames` who has none, with the facility's email domain."""
    email_domain = current_app.config["SETTINGS"].email_domain
    for username in usernames:
        if not (ls.User & {"username": username}):
            ls.User.insert1(
                dict(
                    username=username,
                    email=f"{username}@{email_domain}",
                    full_name="",
                    is_active=1,
                    created_at=now,
                    last_login_at=None,
                )
            )


def _insert_request(ls, key: dict, req: NewRequest, submitter: str, now: dt.datetime) -> None:
    """The request row and its auditors."""
    ls.Request.insert1(
        dict(
            **key,
            requested_by=submitter,
            submitted_at=now,
            labname=req.labname.strip(),
            correspondence_email=req.correspondence_email.strip().lower(),
            description=req.description.strip(),
            species=req.species,
            number_of_samples=len(req.samples),
            raw_data_retention_preference=req.raw_data_retention_preference,
            testing=int(req.testing),
            is_archival=0,
            self_clearing=int(req.self_clearing),
            self_imaging=int(req.self_imaging),
            form_version="1",
        )
    )
    if req.auditors:
        ls.Request.Access.insert(
            [
                dict(**key, grantee=a, access_level="auditor", cc_on_emails=0, granted_by=submitter, granted_at=now)
                for a in dict.fromkeys(req.auditors)
            ]
        )


def _insert_samples(ls, key: dict, req: NewRequest) -> None:
    ls.Request.Sample.insert(
        [
            dict(
                **key,
                sample_name=s.sample_name,
                subject_fullname=s.subject_fullname.strip() or None,
                perfusion_date=s.perfusion_date,
                expected_handoff_date=s.expected_handoff_date,
                notes_for_clearer=s.notes_for_clearer,
            )
            for s in req.samples
        ]
    )


def _insert_clearing_batches(
    ls, key: dict, req: NewRequest, clearing: list[ClearingBatchPlan], now: dt.datetime
) -> None:
    """The planned clearing batches (held by the owner when they clear themselves) and their members."""
    ls.Request.ClearingBatch.insert(
        [
            dict(
                **key,
                clearing_batch_number=cb.number,
                protocol=cb.protocol,
                antibody1=cb.antibody1,
                antibody2=cb.antibody2,
                antibody1_lot=None,
                antibody2_lot=None,
                clearing_progress="pending",
                number_in_batch=len(cb.sample_indexes),
                clearer=req.owner if req.self_clearing else None,
                claimed_at=now if req.self_clearing else None,
                started_at=None,
                completed_at=None,
                exp_notes="",
                clearing_notes="",
                link_to_clearing_spreadsheet=None,
            )
            for cb in clearing
        ]
    )
    ls.Request.ClearingBatchSample.insert(
        [
            dict(**key, sample_name=req.samples[i].sample_name, clearing_batch_number=cb.number)
            for cb in clearing
            for i in cb.sample_indexes
        ]
    )


def _antibody_history_rows(
    req: NewRequest, clearing: list[ClearingBatchPlan], submitter: str, now: dt.datetime
) -> list[dict]:
    """One antibody-history row per clearing batch that names an antibody, to be completed by the clearer."""
    return [
        dict(
            entry_date=now.date(),
            brief_descriptor=req.description.strip()[:128],
            animal_model=req.species,
            primary_antibody=cb.antibody1,
            primary_concentration="",
            secondary_antibody=cb.antibody2,
            secondary_concentration="",
            primary_order_info="",
            secondary_order_info="",
            primary_lot="",
            secondary_lot="",
            notes="",
            username=req.owner,
            request_name=req.request_name,
            clearing_batch_number=cb.number,
            created_by=submitter,
            created_at=now,
            updated_by=None,
            updated_at=None,
        )
        for cb in clearing
        if cb.antibody1 or cb.antibody2
    ]


def _after_submit(req: NewRequest, submitter: str, clearing, submitted_at: dt.datetime) -> None:
    """After the commit: account rows, folders (Celery) and emails (outbox)."""
    for username in {req.owner, submitter}:
        ensure_user(username, actor=submitter)
    folder_jobs = [
        (req.owner, req.request_name, s.sample_name, 1, [(r.image_resolution, False) for r in s.resolutions])
        for s in req.samples
    ]
    ids = emails.queue_submitted(req, clearing, submitted_at)
    key = (req.owner, req.request_name)
    event = f"{req.owner}/{req.request_name}:{submitted_at.isoformat()}"
    enqueue("lightserv.requests.create_imaging_folders", folder_jobs, key=f"imaging-folders:{event}",
            what="Creating the imaging folders", request_key=key)  # fmt: skip
    enqueue("lightserv.requests.check_data_group", req.owner, key=f"data-group:{event}", what="The data-group check",
            request_key=key)  # fmt: skip
    commit_and_send(ids)  # the request is saved: a broker outage must not fail the page (emails and tasks wait)
