"""WSGI entry point: `gunicorn run:app`, and `flask --app run:app <command>`."""

from lightserv import create_app

app = create_app()
