"""Rows of the permission-matrix test, one module per area (each defines `ROWS`).

A row: endpoint -> (method, url, {subject: expected status}). Subjects: anonymous, stranger (a
researcher with no relation to the request), owner, auditor, collaborator, clearing, imaging,
processing, admin. In urls, `{owner}` and `{request}` name a request owned by "owner" that "auditor"
and "collaborator" are named on (built by the test). A subject left out of a row is not checked for it;
every row should list all nine.
"""

from __future__ import annotations

import importlib
import pkgutil

SUBJECTS = ("anonymous", "stranger", "owner", "auditor", "collaborator", "clearing", "imaging", "processing", "admin")


def all_rows() -> dict[str, tuple[str, str, dict[str, int]]]:
    rows: dict[str, tuple[str, str, dict[str, int]]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for endpoint, row in module.ROWS.items():
            assert endpoint not in rows, f"{endpoint} appears in two matrix modules"
            rows[endpoint] = row
    return rows


def same(status: int, **exceptions: int) -> dict[str, int]:
    """Every subject gets `status` except those named."""
    return {s: exceptions.get(s, status) for s in SUBJECTS}


def answer(client, world: dict, subject: str, method: str, url: str):
    """The response to `method url` asked by `subject` of `world` (a POST carries a valid CSRF token)."""
    from tests.conftest import csrf_from

    with client.session_transaction() as sess:
        sess.clear()
        if subject != "anonymous":
            sess.update(world["logins"][subject])  # a live login session of that subject
    if method == "GET":
        return client.get(url)
    token = csrf_from(client.get("/about").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token})


def matrix_url(url_template: str, world: dict) -> str:
    """A row's url with the world's names filled in."""
    return url_template.format(**{**world, "request": "matrix_req"})
