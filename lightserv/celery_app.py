"""Celery wired the Flask way (flask docs, "Background Tasks with Celery").

Every task runs inside an app context. Heartbeats in Redis let /healthz tell whether a worker and the
beat scheduler are alive without a round trip through the broker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref

from celery import Celery, Task
from celery.beat import PersistentScheduler
from celery.exceptions import Retry
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from flask import Flask

from lightserv.beat import beat_schedule
from lightserv.common import dispatch
from lightserv.common.redis import redis_for

WORKER_HEARTBEAT_KEY = "lightserv:heartbeat:worker:"
BEAT_HEARTBEAT_KEY = "lightserv:heartbeat:beat"
HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL = 45
log = logging.getLogger(__name__)
#: the modules whose tasks the outbox relays by name
TASK_MODULES = (
    "lightserv.admin.tasks", "lightserv.clearing.tasks", "lightserv.common.tasks", "lightserv.imaging.tasks",
    "lightserv.notifications.tasks", "lightserv.processing.tasks", "lightserv.requests.tasks", "lightserv.runs.tasks",
    "lightserv.viewer.tasks",
)  # fmt: skip


def celery_init_app(app: Flask) -> Celery:
    settings = app.config["SETTINGS"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                task_id = None if self.request.is_eager else self.request.id  # eager: inside the relay
                if dispatch.already_done(task_id):  # a second copy of relayed work that finished
                    log.info("%s %s already done, skipped", self.name, task_id)
                    return None
                try:
                    result = self.run(*args, **kwargs)
                except Retry:
                    raise
                except Exception as exc:
                    dispatch.mark_finished(task_id, f"{type(exc).__name__}: {exc}")
                    raise
                dispatch.mark_finished(task_id)
                return result

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=settings.redis_url,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=600,
        task_soft_time_limit=540,
        task_always_eager=settings.celery_task_always_eager,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        beat_schedule=beat_schedule(settings),
        imports=TASK_MODULES,  # every worker knows every task the outbox may name
        timezone=settings.display_timezone,
        enable_utc=True,
        worker_hijack_root_logger=False,
    )
    celery_app.set_default()
    dispatch.init_app(app)
    _flask_apps.add(app)
    app.extensions["celery"] = celery_app
    app.extensions["celery_redis_url"] = settings.redis_url
    return celery_app


class HeartbeatScheduler(PersistentScheduler):
    """The default beat scheduler, plus a Redis heartbeat on every tick."""

    def tick(self, *args, **kwargs):
        try:
            url = self.app.conf.broker_url
            redis_for(url).set(BEAT_HEARTBEAT_KEY, str(time.time()), ex=HEARTBEAT_TTL)
        except Exception:  # a Redis blip must not stop the scheduler
            log.warning("beat heartbeat not written", exc_info=True)
        return min(super().tick(*args, **kwargs), HEARTBEAT_SECONDS)


_stop = threading.Event()


@worker_ready.connect
def _start_worker_heartbeat(sender=None, **_):
    url = sender.app.conf.broker_url
    key = WORKER_HEARTBEAT_KEY + f"{socket.gethostname()}:{os.getpid()}"

    def beat():
        while not _stop.is_set():
            try:
                redis_for(url).set(key, str(time.time()), ex=HEARTBEAT_TTL)
            except Exception:  # a Redis blip must not stop the heartbeat thread
                log.warning("worker heartbeat not written", exc_info=True)
            _stop.wait(HEARTBEAT_SECONDS)

    threading.Thread(target=beat, name="lightserv-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_worker_heartbeat(**_):
    _stop.set()


_flask_apps: weakref.WeakSet = weakref.WeakSet()


@worker_process_init.connect
def _reset_connections(**_):
    """A forked child must not reuse its parent's database sockets (DataJoint and SQLAlchemy)."""
    from lightserv.db import forget_connections
    from lightserv.extensions import db

    forget_connections()
    for flask_app in list(_flask_apps):
        with flask_app.app_context():
            db.engine.dispose(close=False)
