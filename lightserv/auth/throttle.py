"""Login throttling, per account and per client address, shared by every web worker through Redis.

- Back-off: after LOGIN_FREE_FAILURES failed logins of one account (LOGIN_ADDRESS_FREE_FAILURES from one
  address) the next attempt must wait 1 s, then 2 s, 4 s ... at most LOGIN_BACKOFF_MAX_SECONDS after the
  latest failure. Counts are forgotten after FORGET_AFTER without failures; an account's also on a correct
  login. Only failures count, so a shared proxy address is slowed only by many failures, and a username
  that does not exist slows only itself and the address it is tried from.
- A cap: at most LOGIN_MAX_FAILURES_PER_HOUR failed logins per account in any hour (Flask-Limiter's moving
  window on the app's Redis); then every attempt of that account is refused until the oldest failure is
  an hour old. Correct logins do not count, so a busy account is never capped by its own successes.
- The first refused attempt of an episode writes one event-log row; later refusals in the same episode do not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItemPerHour

from lightserv.common.audit import record_event
from lightserv.common.errors import DomainError
from lightserv.common.redis import get_redis
from lightserv.extensions import db

FORGET_AFTER = 15 * 60  # seconds without a failure after which the failures of an account or address lapse
PREFIX = "lightserv:login"
LIMITER_KEY = "lightserv_login_limiter"


class LoginThrottled(DomainError):
    """Too many failed logins: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        self.retry_after = max(1, retry_after)
        unit = "second" if self.retry_after == 1 else "seconds"
        super().__init__(f"Too many failed logins. Try again in {self.retry_after} {unit}.")


@dataclass(frozen=True)
class _Subject:
    kind: str  # "account" or "address"
    value: str
    free_failures: int

    def key(self, part: str) -> str:
        return f"{PREFIX}:{part}:{self.kind}:{self.value}"


def init_throttle(app: Flask) -> None:
    """Flask-Limiter on the app's Redis (no route limits of its own: the login service asks it directly)."""
    settings = app.config["SETTINGS"]
    limiter = Limiter(
        get_remote_address,
        storage_uri=settings.redis_url,
        storage_options={"socket_timeout": 2, "socket_connect_timeout": 2},
        strategy="moving-window",
        key_prefix="lightserv",
    )
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter


def _subjects(username: str, address: str | None) -> list[_Subject]:
    settings = current_app.config["SETTINGS"]
    subjects = [_Subject("account", username, settings.login_free_failures)]
    if address:
        subjects.append(_Subject("address", address, settings.login_address_free_failures))
    return subjects


def _hour_cap():
    return RateLimitItemPerHour(current_app.config["SETTINGS"].login_max_failures_per_hour)


def check(username: str, address: str | None) -> None:
    """Raise LoginThrottled while the account or the address must wait, or the account's hour is used up."""
    subjects = _subjects(username, address)
    waits = get_redis().pipeline()
    for subject in subjects:
        waits.pttl(subject.key("wait"))
    for subject, left_ms in zip(subjects, waits.execute(), strict=True):
        if left_ms > 0:
            _refuse(subject, math.ceil(left_ms / 1000))
    strategy = current_app.extensions[LIMITER_KEY].limiter
    cap = _hour_cap()
    if not strategy.test(cap, "login-account", username):
        reset_at, _ = strategy.get_window_stats(cap, "login-account", username)
        _refuse(subjects[0], math.ceil(reset_at - time.time()))


def _refuse(subject: _Subject, retry_after: int) -> None:
    """Log the first refusal of an episode (the episode lasts while refusals keep coming), then refuse."""
    r = get_redis()
    episode = subject.key("episode")
    if r.set(episode, "1", nx=True, ex=FORGET_AFTER):
        account = subject.kind == "account"
        record_event(
            "auth.login_throttled",
            "user" if account else "address",
            {"username": subject.value} if account else {"address": subject.value},
            f"Logins {'of' if account else 'from'} {subject.value} throttled after repeated failures",
            actor=None,
            after={"retry_after_seconds": retry_after},
        )
        db.session.commit()
    else:
        r.expire(episode, FORGET_AFTER)
    raise LoginThrottled(retry_after)


def note_failure(username: str, address: str | None) -> None:
    """One more failure: from the free allowance on, the next attempt waits twice as long as the last."""
    cap_seconds = current_app.config["SETTINGS"].login_backoff_max_seconds
    current_app.extensions[LIMITER_KEY].limiter.hit(_hour_cap(), "login-account", username)
    r = get_redis()
    for subject in _subjects(username, address):
        count_key = subject.key("failures")
        pipe = r.pipeline()
        pipe.incr(count_key)
        pipe.expire(count_key, FORGET_AFTER)
        failures = pipe.execute()[0]
        beyond = failures - subject.free_failures
        if beyond >= 0:
            wait = min(2 ** min(beyond, 30), cap_seconds)
            r.set(subject.key("wait"), "1", px=wait * 1000)


def note_success(username: str) -> None:
    """A correct password ends the account's back-off (the hour cap and the address's count stay)."""
    subject = _Subject("account", username, 0)
    get_redis().delete(subject.key("failures"), subject.key("wait"), subject.key("episode"))
