"""The counts behind each request's derived status (lightserv.common.status), kept per request in the table
`request_status` so the request list sorts and filters by status or fraction without aggregating the
facility's whole history.

Triggers keep it, in the same transaction as every change of a row they count, whoever writes it (the app's
services, the poller, Celery tasks, imports, plain SQL): each counted part table adds a row's contribution
on insert, removes it on delete and applies the difference on update; `request` creates its row and keeps
`samples`; `status_rank` follows the counts. Updates are deltas of one row, never a re-count, so no trigger
reads other rows (no lock on them, and no stale snapshot). The status itself is still derived from the
counts by the rule of lightserv.common.status; `live_counts_sql` computes the same counts from the rows.
"""

from __future__ import annotations

from lightserv.common.status import COUNT_COLUMNS, status_rank_sql
from schemas.enums import IMAGING_REQUEST_DONE

TABLE = "request_status"
_DONE = ", ".join(f"'{v}'" for v in sorted(IMAGING_REQUEST_DONE))
#: counted part of Request -> {count: one row's contribution, SQL over the row's columns `{r}<column>`}
CONTRIBUTIONS: dict[str, dict[str, str]] = {
    "batch": {
        "cleared": "IF({r}clearing_progress = 'complete', {r}number_in_batch, 0)",
        "clearing_started": "{r}clearing_progress <> 'pending'",
    },
    "imaging": {"imaged": f"{{r}}imaging_progress IN ({_DONE})", "imaging_total": "1"},
    "processing": {
        "processed": "{r}processing_progress = 'complete'",
        "processing_total": "1",
        "processing_failed": "{r}processing_progress = 'failed'",
    },
    "layer": {"layers_failed": "{r}status = 'failed'"},
}
#: the DataJoint table of each counted part
TABLES = {
    "batch": "request__clearing_batch",
    "imaging": "request__imaging_request",
    "processing": "request__processing_request",
    "layer": "request__data_layer",
}
COUNTED = tuple(name for name in COUNT_COLUMNS if name != "samples")


def live_counts_sql(alias: str, tables: dict[str, str]) -> str:
    """ ", <count> AS <name>, ..." computed from the part rows (`tables`: part -> table name) of the request
    rows `alias`: one primary-key range per count and request, for a few requests or to rebuild the table."""
    columns = ""
    for part, counts in CONTRIBUTIONS.items():
        of = f"{tables[part]} c WHERE c.username = {alias}.username AND c.request_name = {alias}.request_name"
        for name, sql in counts.items():
            columns += f", (SELECT COALESCE(SUM({sql.format(r='c.')}), 0) FROM {of}) AS {name}"
    return columns


def _delta(part: str, row: str, sign: str) -> str:
    """UPDATE adding (`sign` +) or removing (-) the contribution of trigger row `row` (NEW / OLD)."""
    changes = ", ".join(
        f"{n} = {n} {sign} CAST({sql.format(r=row + '.')} AS SIGNED)" for n, sql in CONTRIBUTIONS[part].items()
    )
    return f"UPDATE {TABLE} SET {changes} WHERE username = {row}.username AND request_name = {row}.request_name;"


def _part_triggers(part: str) -> dict[str, str]:
    def contributions(row: str) -> str:
        return ", ".join(f"({sql.format(r=row + '.')})" for sql in CONTRIBUTIONS[part].values())

    table = TABLES[part]
    zero = ", ".join("0" for _ in CONTRIBUTIONS[part])
    new_row, old_row = (f"({r}.username, {r}.request_name, {contributions(r)})" for r in ("NEW", "OLD"))
    return {
        f"{table}_status_insert": f"AFTER INSERT ON `{table}` FOR EACH ROW"
        f" IF ({contributions('NEW')}) <> ({zero}) THEN {_delta(part, 'NEW', '+')} END IF",
        f"{table}_status_delete": f"AFTER DELETE ON `{table}` FOR EACH ROW"
        f" IF ({contributions('OLD')}) <> ({zero}) THEN {_delta(part, 'OLD', '-')} END IF",
        f"{table}_status_update": f"AFTER UPDATE ON `{table}` FOR EACH ROW"
        f" IF {new_row} <> {old_row} THEN {_delta(part, 'OLD', '-')} {_delta(part, 'NEW', '+')} END IF",
    }


def install_statements(schema: str) -> list[str]:
    """Statements creating the table and its triggers in the lightsheet database `schema` (replacing older
    triggers of the same names) and rebuilding every request's counts from its rows; idempotent."""
    counts = "".join(f"{n} INT NOT NULL DEFAULT 0, " for n in COUNTED)
    create = (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (username VARCHAR(32) NOT NULL, request_name VARCHAR(64) NOT NULL,"
        f" samples INT NOT NULL DEFAULT 0, {counts}status_rank TINYINT NOT NULL DEFAULT 1,"
        " PRIMARY KEY (username, request_name), KEY status_order (status_rank, username, request_name),"
        " FOREIGN KEY (username, request_name) REFERENCES request (username, request_name)"
        " ON UPDATE CASCADE ON DELETE CASCADE)"
        " ENGINE=InnoDB COMMENT='counts behind request status'"  # the database's charset, as `request` has
    )
    rank = f"FOR EACH ROW SET NEW.status_rank = {status_rank_sql('NEW.')}"
    triggers = {
        f"{TABLE}_rank_insert": f"BEFORE INSERT ON {TABLE} {rank}",
        f"{TABLE}_rank_update": f"BEFORE UPDATE ON {TABLE} {rank}",
        "request_status_new": f"AFTER INSERT ON request FOR EACH ROW INSERT INTO {TABLE} (username, request_name,"
        " samples) VALUES (NEW.username, NEW.request_name, NEW.number_of_samples)"
        " ON DUPLICATE KEY UPDATE samples = NEW.number_of_samples" + "".join(f", {n} = 0" for n in COUNTED),
        "request_status_samples": "AFTER UPDATE ON request FOR EACH ROW IF NEW.number_of_samples <>"
        f" OLD.number_of_samples THEN UPDATE {TABLE} SET samples = NEW.number_of_samples"
        " WHERE username = NEW.username AND request_name = NEW.request_name; END IF",
    }
    for part in CONTRIBUTIONS:
        triggers.update(_part_triggers(part))
    rebuild = (
        f"INSERT INTO {TABLE} (username, request_name, samples, {', '.join(COUNTED)})"
        f" SELECT r.username, r.request_name, r.number_of_samples{live_counts_sql('r', TABLES)} FROM request r"
        " ON DUPLICATE KEY UPDATE samples = VALUES(samples)" + "".join(f", {n} = VALUES({n})" for n in COUNTED)
    )
    return [
        f"USE `{schema}`",
        create,
        *(f"DROP TRIGGER IF EXISTS `{name}`" for name in triggers),
        *(f"CREATE TRIGGER `{name}` {body}" for name, body in triggers.items()),
        rebuild,
    ]
