"""Celery entry point: `celery -A lightserv.worker worker` and `celery -A lightserv.worker beat`.

`create_app` adds the run hooks; Celery finds the tasks in each package's `tasks` module when the worker starts.
"""

from lightserv import create_app

#: packages with a `tasks` module
TASK_PACKAGES = [
    "lightserv.admin",
    "lightserv.clearing",
    "lightserv.common",
    "lightserv.imaging",
    "lightserv.notifications",
    "lightserv.processing",
    "lightserv.requests",
    "lightserv.runs",
    "lightserv.viewer",
]

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
celery_app.autodiscover_tasks(TASK_PACKAGES)
