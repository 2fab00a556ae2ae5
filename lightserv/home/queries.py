"""Reads of the home page about a person's own and shared requests, and the admin's facility figures.

Every list is one SQL statement limited in MariaDB (its total comes with it, `COUNT(*) OVER ()`); nothing is
read per row. "My requests" are those the viewer owns plus those shared with them, each with the viewer's
relation (`owner`, `collaborator`, `auditor`); what asks for an action counts only the relations allowed to
take it (hand-off: the owner; feedback and failed processing: owner and collaborators).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import select, text

from lightserv.common.outbox import MAX_ATTEMPTS
from lightserv.common.permissions import ACTIONS
from lightserv.common.sql import query
from lightserv.common.status import COMPLETE, STATUSES
from lightserv.extensions import db
from lightserv.models import EventLog
from lightserv.requests.queries import tables
from lightserv.viewer.queries import LIVE

LIMIT = 6
#: event actions of the computing machinery (every job state, every stage): the request page lists them, the
#: home page's recent changes leave them out so that what people did and what became ready stays visible
MACHINE_ACTIONS = ("job.", "run.")
#: relations that may give feedback, and who hears about failed processing (the same people)
ACTING = tuple(sorted(ACTIONS["request.feedback"].relations))

_BY_RANK = {s.rank: s for s in STATUSES.values()}


@dataclass(frozen=True)
class Listed:
    """The first rows of a list and how many there are in all."""

    rows: list[dict]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _t() -> SimpleNamespace:
    """The request tables by name, the stored status counts and the application tables read here."""
    app_db = f"`{current_app.config['SETTINGS'].app_database}`"
    return SimpleNamespace(
        **vars(tables()),
        feedback=f"{app_db}.`feedback`",
        outbox=f"{app_db}.`email_outbox`",
        session=f"{app_db}.`viewer_session`",
    )


def _mine(t: SimpleNamespace, alias: str) -> str:
    """JOIN keeping the rows of `alias` that belong to a request of the viewer (two %s: the viewer), with the
    viewer's relation as `v.relation`."""
    keys = (
        f"SELECT username, request_name, 'owner' AS relation FROM {t.request} WHERE username = %s"
        f" UNION ALL SELECT username, request_name, CAST(access_level AS CHAR) FROM {t.access} WHERE grantee = %s"
    )
    return f" JOIN ({keys}) v ON v.username = {alias}.username AND v.request_name = {alias}.request_name"


def _acting(t: SimpleNamespace, alias: str, viewer: str) -> tuple[str, list]:
    """JOIN keeping the rows of `alias` that belong to a request the viewer may act on (`ACTING`: owner or
    collaborator, not auditor), and its parameters."""
    relations = ", ".join(["%s"] * len(ACTING))
    return f"{_mine(t, alias)} AND v.relation IN ({relations})", [viewer, viewer, *ACTING]


def _listed(sql: str, args: list, limit: int) -> Listed:
    """Rows of `sql` (which selects `COUNT(*) OVER () AS total` and ends before LIMIT) up to `limit`."""
    rows = query(f"{sql} LIMIT %s", [*args, limit])
    return Listed(rows, int(rows[0]["total"]) if rows else 0)


# --- the requests themselves ------------------------------------------------------------------------------


def count_requests(viewer: str) -> dict[str, int]:
    """{"own": requests the viewer owns, "shared": requests shared with them}."""
    t = _t()
    row = query(
        f"SELECT (SELECT COUNT(*) FROM {t.request} WHERE username = %s) AS own,"
        f" (SELECT COUNT(*) FROM {t.access} WHERE grantee = %s) AS shared",
        [viewer, viewer],
    )[0]
    return {"own": int(row["own"]), "shared": int(row["shared"])}


def list_shared_requests(viewer: str, limit: int = LIMIT) -> Listed:
    """Requests shared with the viewer, newest first, with their owner, the viewer's access and the status."""
    t = _t()
    found = _listed(
        "SELECT r.username, r.request_name, r.description, r.submitted_at, CAST(a.access_level AS CHAR) AS relation,"
        f" c.status_rank, COUNT(*) OVER () AS total FROM {t.access} a"
        f" JOIN {t.request} r ON r.username = a.username AND r.request_name = a.request_name"
        f" JOIN {t.status} c ON c.username = r.username AND c.request_name = r.request_name"
        " WHERE a.grantee = %s ORDER BY r.submitted_at DESC, r.username, r.request_name",
        [viewer],
        limit,
    )
    for row in found.rows:
        row["status"] = _BY_RANK[int(row.pop("status_rank"))]
    return found


# --- what needs the researcher ----------------------------------------------------------------------------


def list_handoffs(viewer: str, limit: int = LIMIT) -> Listed:
    """The viewer's requests whose samples the facility still waits for: samples in clearing batches that have
    not started, of requests the facility clears (not self-cleared, not archival); earliest expected first."""
    t = _t()
    return _listed(
        "SELECT s.username, s.request_name, COUNT(*) AS samples, MIN(s.expected_handoff_date) AS expected,"
        f" COUNT(*) OVER () AS total FROM {t.sample} s"
        f" JOIN {t.batch_sample} m ON m.username = s.username AND m.request_name = s.request_name"
        " AND m.sample_name = s.sample_name"
        f" JOIN {t.batch} b ON b.username = m.username AND b.request_name = m.request_name"
        " AND b.clearing_batch_number = m.clearing_batch_number"
        f" JOIN {t.request} r ON r.username = s.username AND r.request_name = s.request_name"
        " WHERE s.username = %s AND b.clearing_progress = 'pending' AND r.self_clearing = 0 AND r.is_archival = 0"
        " GROUP BY s.username, s.request_name ORDER BY MIN(s.expected_handoff_date) IS NULL, expected, s.request_name",
        [viewer],
        limit,
    )


def list_feedback_due(viewer: str, limit: int = LIMIT) -> Listed:
    """Complete requests the viewer may give feedback on (owner or collaborator) and has not yet."""
    t = _t()
    acting, args = _acting(t, "r", viewer)
    return _listed(
        f"SELECT r.username, r.request_name, r.description, COUNT(*) OVER () AS total FROM {t.request} r{acting}"
        f" JOIN {t.status} c ON c.username = r.username AND c.request_name = r.request_name"
        " WHERE c.status_rank = %s AND r.is_archival = 0"
        f" AND NOT EXISTS (SELECT 1 FROM {t.feedback} f WHERE f.request_username = r.username"
        " AND f.request_name = r.request_name AND f.submitted_by = %s)"
        " ORDER BY r.submitted_at DESC, r.username, r.request_name",
        [*args, COMPLETE.rank, viewer],
        limit,
    )


def list_failed_processing(viewer: str, limit: int = LIMIT) -> Listed:
    """Failed processing of the viewer's requests (owner or collaborator), latest first."""
    t = _t()
    acting, args = _acting(t, "p", viewer)
    return _listed(
        "SELECT p.username, p.request_name, p.sample_name, p.imaging_request_number, p.processing_request_number,"
        f" p.failure_summary, p.started_at, COUNT(*) OVER () AS total FROM {t.processing} p{acting}"
        " WHERE p.processing_progress = 'failed'"
        " ORDER BY p.started_at DESC, p.username, p.request_name, p.sample_name",
        args,
        limit,
    )


def list_ready_data(viewer: str, limit: int = LIMIT) -> Listed:
    """The viewer's data ready to view, one row per sample, imaging request and processing request (0: the raw
    images), the most recently ready first, with the products ready (`products`, comma-separated)."""
    t = _t()
    return _listed(
        "SELECT l.username, l.request_name, l.sample_name, l.imaging_request_number, l.processing_request_number,"
        " MAX(l.ready_at) AS ready_at, COUNT(*) AS layers,"
        " GROUP_CONCAT(DISTINCT CAST(l.product AS CHAR) ORDER BY l.product) AS products,"
        f" COUNT(*) OVER () AS total FROM {t.layer} l{_mine(t, 'l')} WHERE l.status = 'ready'"
        " GROUP BY l.username, l.request_name, l.sample_name, l.imaging_request_number, l.processing_request_number"
        " ORDER BY ready_at DESC, l.username, l.request_name, l.sample_name",
        [viewer, viewer],
        limit,
    )


def _latest_events(sources: list[str], params: dict, limit: int) -> list[EventLog]:
    """The newest `limit` event-log rows of the union of `sources` (each `FROM event_log e ... WHERE ...`,
    limited by itself first so that every side reads at most `limit` rows in index order)."""
    latest = "ORDER BY e.occurred_at DESC, e.id DESC LIMIT :limit"
    sql = " UNION ALL ".join(f"(SELECT e.* {source} {latest})" for source in sources)
    sql += " ORDER BY occurred_at DESC, id DESC LIMIT :limit"
    return list(db.session.scalars(select(EventLog).from_statement(text(sql)).params(**params, limit=limit)))


def _people_only() -> tuple[str, dict]:
    """Condition leaving out the computing machinery's actions (`MACHINE_ACTIONS`), and its parameters."""
    condition = " AND ".join(f"e.action NOT LIKE :quiet_{i}" for i in range(len(MACHINE_ACTIONS)))
    return condition, {f"quiet_{i}": f"{a}%" for i, a in enumerate(MACHINE_ACTIONS)}


def list_recent_events(viewer: str, limit: int = 10) -> list[EventLog]:
    """The latest event-log entries of the viewer's requests (own and shared), newest first."""
    t = _t()
    people, params = _people_only()
    sources = [
        f"FROM event_log e WHERE e.request_username = :viewer AND {people}",
        f"FROM event_log e JOIN {t.access} a ON a.username = e.request_username AND a.request_name = e.request_name"
        f" WHERE a.grantee = :viewer AND {people}",
    ]
    return _latest_events(sources, {"viewer": viewer, **params}, limit)


def list_work_events(viewer: str, limit: int = 10) -> list[EventLog]:
    """The latest entries, by others, about requests whose unfinished work the viewer holds (a clearing or
    imaging batch not complete, processing they started that is running or failed), newest first."""
    t = _t()
    people, params = _people_only()
    held = (
        f"SELECT username, request_name FROM {t.batch} WHERE clearer = :viewer AND clearing_progress <> 'complete'"
        f" UNION SELECT username, request_name FROM {t.imaging_batch} WHERE imager = :viewer"
        " AND imaging_progress <> 'complete'"
        f" UNION SELECT username, request_name FROM {t.processing} WHERE processor = :viewer"
        " AND processing_progress IN ('running', 'failed')"
    )
    source = (
        f"FROM event_log e JOIN ({held}) h ON h.username = e.request_username AND h.request_name = e.request_name"
        f" WHERE {people} AND NOT (e.actor <=> :viewer)"
    )
    return _latest_events([source], {"viewer": viewer, **params}, limit)


#: what went wrong, for the admin's home page
FAILURE_ACTIONS = ("processing.failed", "layer.failed", "email.failed", "background.not_queued")


def list_failure_events(limit: int = 5) -> list[EventLog]:
    """The latest failures the event log recorded, newest first."""
    names = ", ".join(f":failure_{i}" for i in range(len(FAILURE_ACTIONS)))
    params = {f"failure_{i}": action for i, action in enumerate(FAILURE_ACTIONS)}
    return _latest_events([f"FROM event_log e WHERE e.action IN ({names})"], params, limit)


# --- the admin's facility figures --------------------------------------------------------------------------


def count_attention() -> dict[str, int]:
    """Figures that need an admin: emails given up on, layers that could not be prepared, live viewer
    sessions (one statement over both databases)."""
    t = _t()
    live = ", ".join(["%s"] * len(LIVE))
    row = query(
        f"SELECT (SELECT COUNT(*) FROM {t.outbox} WHERE status = 'failed' AND attempts >= %s) AS emails,"
        f" (SELECT COUNT(*) FROM {t.layer} WHERE status = 'failed') AS layers,"
        f" (SELECT COUNT(*) FROM {t.session} WHERE status IN ({live})) AS sessions",
        [MAX_ATTEMPTS, *LIVE],
    )[0]
    return {name: int(value) for name, value in row.items()}
