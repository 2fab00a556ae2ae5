"""Celery entry point: `celery -A lightserv.worker worker` and `celery -A lightserv.worker beat`."""

from lightserv import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]

import lightserv.admin.tasks  # noqa: E402,F401  (registers the tasks)
import lightserv.common.tasks  # noqa: E402,F401
import lightserv.imaging.layer_emails  # noqa: E402,F401
import lightserv.layers.services  # noqa: E402,F401
import lightserv.notifications.tasks  # noqa: E402,F401
import lightserv.requests.tasks  # noqa: E402,F401
import lightserv.runs.tasks  # noqa: E402,F401
import lightserv.viewer.tasks  # noqa: E402,F401
