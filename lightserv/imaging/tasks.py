"""Background work of the imaging blueprint: raw-data validation of a submitted sample."""

from __future__ import annotations

import time

from celery import shared_task

from lightserv.common.dispatch import enqueue, relay_pending

PROGRESS_SECONDS = 2.0
# A validation whose worker died must not leave the sample "being validated" for ever: the submit sets a
# heartbeat that covers the wait in the queue, the running task refreshes it, and a beat task re-queues a
# validation whose heartbeat expired (at most MAX_REQUEUES times, then it fails with a message).
QUEUED_TTL = 900  # seconds a queued validation may wait for a worker
RUNNING_TTL = 120  # seconds without a progress refresh before a running validation counts as lost
MAX_REQUEUES = 3
IMAGING_KEY = ("username", "request_name", "sample_name", "imaging_request_number")


def _member_id(member: dict) -> str:
    return "/".join(str(member[k]) for k in IMAGING_KEY)


def heartbeat_key(member: dict) -> str:
    return f"lightserv:validation:alive:{_member_id(member)}"


def lock_key(member: dict) -> str:
    return f"lightserv:validation:lock:{_member_id(member)}"


def requeue_key(member: dict) -> str:
    return f"lightserv:validation:requeued:{_member_id(member)}"


def actor_key(member: dict) -> str:
    return f"lightserv:validation:actor:{_member_id(member)}"


def queue_validation(member: dict, actor: str) -> None:
    """Called after the submit commits (its validation task recorded with it): mark the validation alive while it
    waits, then hand the task to the broker. While Redis is down the validation waits in the outbox; without its
    heartbeat `recover_validations` may queue a second copy, which finds the first's lock or result and does
    nothing."""
    import logging

    import redis as redis_lib

    from lightserv.common.redis import get_redis

    try:
        redis = get_redis()
        redis.set(actor_key(member), actor, ex=7 * 86400)  # who submitted, for a re-queued copy
        redis.set(heartbeat_key(member), actor, ex=QUEUED_TTL)
    except redis_lib.RedisError as exc:
        logging.getLogger(__name__).warning("validation of %s queued without its heartbeat: %s", member, exc)
    relay_pending()


@shared_task(name="lightserv.imaging.validate_sample", soft_time_limit=3000, time_limit=3300)
def validate_sample(member: dict, actor: str) -> int:
    """Validate one submitted sample on disk; on success complete it and start its raw conversions.
    Progress text is kept on the imaging request while it runs. Returns the number of problems."""
    return run_validation(member, actor)


def run_validation(member: dict, actor: str) -> int:
    """Returns the number of problems; -1 when there was nothing to do (another copy holds the lock, or the
    validation is no longer running, e.g. a re-queued copy of one that finished)."""
    from lightserv.common.redis import get_redis
    from lightserv.db import get_schemas

    from . import sample_services

    ls = get_schemas().lightsheet
    redis = get_redis()
    if not redis.set(lock_key(member), actor, nx=True, ex=RUNNING_TTL):
        return -1
    try:
        if (ls.Request.ImagingRequest & member).fetch1("validation_status") != "running":
            return -1
        redis.set(heartbeat_key(member), actor, ex=RUNNING_TTL)
        last = [0.0]

        def progress(text: str) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_SECONDS:
                last[0] = now
                ls.Request.ImagingRequest.update1({**member, "validation_messages": [text]})
                redis.set(heartbeat_key(member), actor, ex=RUNNING_TTL)
                redis.set(lock_key(member), actor, ex=RUNNING_TTL)

        messages = sample_services.validate_sample(member, actor, progress)
        if not messages:
            relay_pending()  # the follow-ups' guard, recorded with the result
            start_followups(member, actor)
        return len(messages)
    finally:
        redis.delete(lock_key(member), heartbeat_key(member), requeue_key(member))


STORAGE_RETRY_SECONDS = 60
STORAGE_RETRIES = 180  # three hours of a DATA_ROOT that cannot be written


def start_followups(member: dict, actor: str) -> None:
    """The raw conversions and SmartSPIM stitching of a sample that passed validation. They write under
    DATA_ROOT (input links, parameter documents): when it cannot be written (read-only, full) the validation
    result stands, and the `start_conversions` task recorded with it tries again every minute until it can.
    Both starts skip what was already started, so a retry never starts anything twice."""
    import logging

    from . import triggers

    try:
        triggers.start_raw_conversions(member, created_by=actor)
        triggers.start_autostitch(member, created_by=actor)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "raw conversions of %s wait for a writable DATA_ROOT: %s", _member_id(member), exc
        )


@shared_task(
    name="lightserv.imaging.start_conversions",
    bind=True,
    max_retries=STORAGE_RETRIES,
    soft_time_limit=600,
    time_limit=660,
)
def start_conversions(self, member: dict, actor: str, since: str) -> int:
    """Start the raw conversions and SmartSPIM stitching of a validated sample (a retry of start_followups,
    first tried at `since`, UTC ISO); returns the number of runs started."""
    import datetime as dt

    from . import triggers

    first = dt.datetime.fromisoformat(since)
    try:
        return len(triggers.start_raw_conversions(member, created_by=actor, since=first)) + len(
            triggers.start_autostitch(member, created_by=actor)
        )
    except OSError as exc:
        raise self.retry(exc=exc, countdown=STORAGE_RETRY_SECONDS) from exc


@shared_task(name="lightserv.imaging.recover_validations", soft_time_limit=60, time_limit=90)
def recover_validations() -> int:
    """Re-queue validations whose worker died (no heartbeat); returns how many were re-queued or failed."""
    return recover_lost_validations()


def recover_lost_validations() -> int:
    from lightserv.common.audit import record_event
    from lightserv.common.redis import get_redis
    from lightserv.db import get_schemas

    ls = get_schemas().lightsheet
    redis = get_redis()
    handled = 0
    for row in (ls.Request.ImagingRequest & "validation_status = 'running'").to_dicts():
        member = {k: row[k] for k in IMAGING_KEY}
        if redis.exists(heartbeat_key(member)) or redis.exists(lock_key(member)):
            continue
        attempts = int(redis.incr(requeue_key(member)))
        redis.expire(requeue_key(member), 7 * 86400)
        handled += 1
        if attempts > MAX_REQUEUES:
            message = (
                f"Validation of sample {member['sample_name']} could not finish: the background worker stopped "
                f"{MAX_REQUEUES} times. Submit the sample again, or ask an admin if this repeats."
            )
            ls.Request.ImagingRequest.update1(
                {**member, "validation_status": "failed", "validation_messages": [message]}
            )
            record_event("imaging.validation_lost", "imaging_request", member, message, actor=None,
                         request_key=(member["username"], member["request_name"]))  # fmt: skip
            redis.delete(requeue_key(member))
        else:
            summary = f"validation of {member['sample_name']} re-queued (attempt {attempts + 1}): its worker stopped"
            record_event("imaging.validation_requeued", "imaging_request", member, summary, actor=None,
                         request_key=(member["username"], member["request_name"]))  # fmt: skip
            actor = redis.get(actor_key(member)) or "system"
            redis.set(heartbeat_key(member), actor, ex=QUEUED_TTL)
            enqueue("lightserv.imaging.validate_sample", member, actor, what="Validating the raw data (re-queued)",
                    request_key=(member["username"], member["request_name"]))  # fmt: skip
    from lightserv.extensions import db

    db.session.commit()
    relay_pending()  # the re-queued validations, written with their events
    return handled


@shared_task(name="lightserv.imaging.remind_waiting_imaging", soft_time_limit=120, time_limit=150)
def remind_waiting_imaging() -> int:
    """Email imaging staff the batches ready (clearing complete) for 7 days and not started. At most one email per
    facility day; returns the number of batches listed."""
    return send_waiting_reminder()


def send_waiting_reminder() -> int:
    import datetime as dt

    from lightserv.workflow.reminders import send_reminder

    from . import emails, queries

    def find(now: dt.datetime, today: dt.date) -> list[dict]:
        return queries.list_batches_waiting_for_imaging(now - dt.timedelta(days=WAITING_DAYS))

    return send_reminder(find, emails.queue_waiting_imaging)


WAITING_DAYS = 7
