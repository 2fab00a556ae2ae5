"""The app under threaded gunicorn workers (lightserv/gunicorn.conf.py): threads wait on clients, and the
app code runs one app context at a time per process.

A worker's threads exist so that slow or stalled clients cannot tie it up: a thread waits for a request to
arrive in full and for its answer to be sent, while another thread's request runs. The app code itself
never runs in two threads of one process at once, because the process has one DataJoint connection
(lightserv/db.py) and threads sharing it would interleave their queries and transactions. Every app
context (a request, each chunk of a streamed CSV, a Celery task) holds a process-wide lock from push to
pop; a nested context in the same thread re-enters it. A request body is read in full before the app runs,
so a slow upload waits in its own thread without holding the lock.
"""

from __future__ import annotations

import io
import os
import threading
import time

from flask import Flask
from flask.ctx import AppContext

_lock = threading.RLock()
_held = {"depth": 0, "since": None}  # the holder's nesting depth, and since when it holds the lock (monotonic)


def _new_lock_after_fork() -> None:
    global _lock  # noqa: PLW0603 - a forked child must not inherit a lock held by a thread it lacks
    _lock = threading.RLock()
    _held.update(depth=0, since=None)


def busy_seconds() -> float:
    """How long the app has been running its current outermost app context in this process (0 when idle)."""
    since = _held["since"]
    return 0.0 if since is None else time.monotonic() - since


os.register_at_fork(after_in_child=_new_lock_after_fork)


def _release() -> None:
    _held["depth"] -= 1
    if _held["depth"] == 0:
        _held["since"] = None
    _lock.release()


class SerialAppContext(AppContext):
    """An app context that holds the process's app lock while it is pushed."""

    def push(self) -> None:
        _lock.acquire()
        if _held["depth"] == 0:
            _held["since"] = time.monotonic()
        _held["depth"] += 1
        try:
            super().push()
        except BaseException:
            _release()
            raise

    def pop(self, *args, **kwargs) -> None:
        try:
            super().pop(*args, **kwargs)
        finally:
            _release()


#: set by lightserv/gunicorn.conf.py: only threaded web workers serialise their app contexts (a Celery prefork
#: process runs one task at a time anyway, and the tests' in-thread workers must not wait on the test's context)
SERIAL_ENV = "LIGHTSERV_SERIAL_APP_CONTEXTS"


class SerialFlask(Flask):
    """Flask whose app contexts (and so requests) run one at a time per process under threaded gunicorn."""

    def app_context(self) -> AppContext:
        if os.environ.get(SERIAL_ENV) == "1":
            return SerialAppContext(self)
        return super().app_context()


def read_body_first(wsgi_app, limit: int):
    """WSGI middleware: read a request body of up to `limit` bytes (its Content-Length) before the app runs.
    A longer body is left to the app, which refuses it (413) without reading it."""

    def app(environ, start_response):
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and 0 < int(length) <= limit:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(int(length)))
        return wsgi_app(environ, start_response)

    return app
