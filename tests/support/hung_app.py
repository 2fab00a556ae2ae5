"""The real app plus one route that never finishes, for the test of gunicorn's request watchdog:
`gunicorn --config lightserv/gunicorn.conf.py "tests.support.hung_app:app()"`. Settings come from the
environment, as for `run:app`."""

from __future__ import annotations

import time


def app():
    from lightserv import create_app
    from lightserv.common.permissions import public

    flask_app = create_app()

    @flask_app.route("/test/hang")
    @public
    def hang():
        time.sleep(3600)
        return "never"

    return flask_app
