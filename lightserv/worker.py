"""Celery entry point: `celery -A lightserv.worker worker` and `celery -A lightserv.worker beat`.

`create_app` adds the run hooks and the Celery app; the worker imports every task module named in
`lightserv.celery_app.TASK_MODULES` (Celery's `imports`) when it starts.
"""

from lightserv import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
