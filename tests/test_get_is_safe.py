"""No GET changes state: every GET route of the permission matrix, asked by every subject, leaves the event log
and the row count of every table (scientific record and app state alike) as it was. A link on another site can
therefore never launch, count, stop or create anything."""

from __future__ import annotations

from tests.matrix import all_rows, matrix_url
from tests.support.auth import login_session_keys
from tests.support.databases import server_connection
from tests.test_permissions import matrix_world  # noqa: F401 - the fixture

GET_ROUTES = {e: row for e, row in all_rows().items() if row[0] == "GET"}


def row_counts(prefix: str) -> dict[str, int]:
    """Rows of every table of this deployment's databases (one query)."""
    pattern = prefix.replace("_", "\\_") + "%"
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE %s AND table_type = 'BASE TABLE'",
            (pattern,),
        )
        tables = cur.fetchall()
        cur.execute(" UNION ALL ".join(f"SELECT '{s}.{t}', COUNT(*) FROM `{s}`.`{t}`" for s, t in tables))
        return {name: int(n) for name, n in cur.fetchall()}


def test_no_get_route_of_the_matrix_changes_the_database(app, client, matrix_world):  # noqa: F811
    prefix = app.config["SETTINGS"].dj_schema_prefix
    subjects = {s for _, _, expected in GET_ROUTES.values() for s in expected}
    logins = {s: login_session_keys(app, matrix_world[s]) for s in subjects if s != "anonymous"}
    before = row_counts(prefix)
    assert any(name.endswith(".event_log") for name in before)
    changed = {}
    for endpoint, (_, template, expected) in sorted(GET_ROUTES.items()):
        url = matrix_url(template, matrix_world)
        for subject in expected:
            with client.session_transaction() as sess:
                sess.clear()
                sess.update(logins.get(subject, {}))
            client.get(url)
        after = row_counts(prefix)
        diff = {t: (before.get(t), after.get(t)) for t in before.keys() | after.keys() if before.get(t) != after.get(t)}
        if diff:
            changed[f"{endpoint} {url}"] = diff
            before = after
    assert changed == {}, f"GET routes that changed the database: {changed}"
