"""Each stage's row keeps a copy of the progress of the row it waits for (an imaging batch: its clearing batch's;
a processing request: its imaging request's), so a queue counts and sorts "ready" and "waiting" rows on one
index of its own table instead of joining every pending row to the stage before.

Triggers keep each copy in the same transaction as every change, whoever writes it: a new row takes the
progress of the row it waits for, and a change of that progress is copied to the rows waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.enums import CLEARING_PROGRESS, IMAGING_REQUEST_PROGRESS


@dataclass(frozen=True)
class Copy:
    """`table`.`column` copies `upstream`.`progress` (one of `values`) of the upstream row with the same `key`;
    `comment`: the column's comment in the table's definition."""

    table: str
    column: str
    upstream: str
    progress: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    comment: str

    def same_row(self, alias: str, row: str) -> str:
        return " AND ".join(f"{alias}.{c} = {row}.{c}" for c in self.key)


COPIES = (
    Copy(
        "request__imaging_batch",
        "clearing_state",
        "request__clearing_batch",
        "clearing_progress",
        ("username", "request_name", "clearing_batch_number"),
        CLEARING_PROGRESS,
        "copied by triggers from its clearing batch",
    ),
    Copy(
        "request__processing_request",
        "imaging_state",
        "request__imaging_request",
        "imaging_progress",
        ("username", "request_name", "sample_name", "imaging_request_number"),
        IMAGING_REQUEST_PROGRESS,
        "copied by triggers from its imaging request",
    ),
)


def _statements(c: Copy) -> list[str]:
    triggers = {
        f"{c.table}_{c.column}": f"BEFORE INSERT ON `{c.table}` FOR EACH ROW SET NEW.{c.column} ="
        f" COALESCE((SELECT u.{c.progress} FROM `{c.upstream}` u WHERE {c.same_row('u', 'NEW')}), '{c.values[0]}')",
        f"{c.upstream}_{c.column}": f"AFTER UPDATE ON `{c.upstream}` FOR EACH ROW"
        f" IF NEW.{c.progress} <> OLD.{c.progress} THEN UPDATE `{c.table}` d SET d.{c.column} = NEW.{c.progress}"
        f" WHERE {c.same_row('d', 'NEW')}; END IF",
    }
    refresh = (
        f"UPDATE `{c.table}` d JOIN `{c.upstream}` u ON {c.same_row('u', 'd')}"
        f" SET d.{c.column} = u.{c.progress} WHERE d.{c.column} <> u.{c.progress}"
    )
    return [
        *(f"DROP TRIGGER IF EXISTS `{name}`" for name in triggers),
        *(f"CREATE TRIGGER `{name}` {body}" for name, body in triggers.items()),
        refresh,
    ]


def install_statements(schema: str) -> list[str]:
    """Statements creating the copies' triggers in the lightsheet database `schema` (replacing older triggers of
    the same names) and refreshing every copy; idempotent."""
    return [f"USE `{schema}`", *(s for c in COPIES for s in _statements(c))]
