"""Rows to JSON: UTC timestamps as ISO 8601 with `Z`, dates as ISO dates, numbers as numbers."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping

from flask import current_app, url_for

from lightserv.common.status import Status

SAMPLE_KEY = ("username", "request_name", "sample_name")
REQUEST_FIELDS = (
    "username",
    "request_name",
    "requested_by",
    "submitted_at",
    "labname",
    "correspondence_email",
    "description",
    "species",
    "number_of_samples",
    "raw_data_retention_preference",
    "testing",
    "is_archival",
    "self_clearing",
    "self_imaging",
)
BATCH_FIELDS = (
    "clearing_batch_number",
    "protocol",
    "protocol_label",
    "antibody1",
    "antibody2",
    "clearing_progress",
    "clearer",
    "number_in_batch",
    "started_at",
    "completed_at",
    "samples",
)
SAMPLE_FIELDS = ("sample_name", "subject_fullname", "perfusion_date", "expected_handoff_date")
BOOLEAN_FIELDS = frozenset(
    {"testing", "is_archival", "self_clearing", "self_imaging", "ventral_up", "is_array", "raw_ready", "ready"}
)


def jsonable(value, name: str = ""):
    if isinstance(value, Mapping):
        return {k: jsonable(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Status):
        return {"key": value.key, "label": value.label}
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat() + "Z"  # every stored timestamp is UTC
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        value = value.item()
    if name in BOOLEAN_FIELDS and value is not None:
        return bool(value)
    return value


def public_url(endpoint: str, **values) -> str:
    """An absolute URL on SITE_URL."""
    return current_app.config["SETTINGS"].site_url + url_for(endpoint, **values)


def pick(row: Mapping, fields: Iterable[str]) -> dict:
    return {f: jsonable(row.get(f), f) for f in fields if f in row}


def fraction(done: int, total: int) -> dict:
    return {"done": int(done), "total": int(total)}


def request_links(owner: str, request_name: str) -> dict:
    key = {"username": owner, "request_name": request_name}
    return {
        "url": public_url("api.get_request", **key),
        "html_url": public_url("requests.overview", **key),
        "runs_url": public_url("api.list_runs", owner=owner, request_name=request_name),
        "layers_url": public_url("api.list_layers", owner=owner, request_name=request_name),
    }


def counts(row: Mapping) -> dict:
    return {
        "cleared": fraction(row["cleared"], row["samples"]),
        "imaged": fraction(row["imaged"], row["imaging_total"]),
        "processed": fraction(row["processed"], row["processing_total"]),
    }


def request_item(row: Mapping) -> dict:
    """A row of `lightserv.requests.queries.list_requests`."""
    item = pick(row, ("username", "request_name", "submitted_at", "description", "species", "is_archival", "testing"))
    item["number_of_samples"] = int(row["samples"])
    item.update(counts(row))
    item["status"] = jsonable(row["status"])
    item["relation"] = row.get("relation")
    item.update(request_links(row["username"], row["request_name"]))
    return item


def _strip_key(rows: list[dict], key: Iterable[str]) -> list[dict]:
    drop = set(key)
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def imaging_items(imaging: list[dict]) -> list[dict]:
    """The nested imaging and processing requests of a sample (from `attach_imaging`)."""
    items = []
    for i in _strip_key(imaging, SAMPLE_KEY):
        i["processing"] = [
            dict(
                p,
                resolutions=_strip_key(
                    p["resolutions"], (*SAMPLE_KEY, "imaging_request_number", "processing_request_number")
                ),
            )
            for p in _strip_key(i.get("processing", []), (*SAMPLE_KEY, "imaging_request_number"))
        ]
        items.append(jsonable(i))
    return items


def sample_item(row: Mapping) -> dict:
    """A row of `lightserv.requests.queries.list_samples`."""
    item = pick(
        row,
        (
            "username",
            "request_name",
            "sample_name",
            "species",
            "is_archival",
            "testing",
            "submitted_at",
            "clearing_batch_number",
            "protocol",
            "protocol_label",
            "clearer",
            "clearing_progress",
        ),
    )
    item["imaging"] = imaging_items(row.get("imaging", []))
    item["request_url"] = public_url("api.get_request", username=row["username"], request_name=row["request_name"])
    return item


def request_detail(req: Mapping, relation: str | None, overview: Mapping) -> dict:
    item = pick(req, REQUEST_FIELDS)
    item.update(counts(overview["counts"]))
    item["status"] = jsonable(overview["status"])
    item["relation"] = relation
    item["clearing_batches"] = [pick(b, BATCH_FIELDS) for b in overview["batches"]]
    item["samples"] = [
        dict(
            pick(s, SAMPLE_FIELDS),
            clearing_batch_number=(s["batch"] or {}).get("clearing_batch_number"),
            imaging=imaging_items(s.get("imaging", [])),
        )
        for s in overview["samples"]
    ]
    item.update(request_links(req["username"], req["request_name"]))
    return item


def run_item(row: Mapping) -> dict:
    item = jsonable(row)
    item["url"] = public_url("api.get_run", run_id=row["run_id"])
    item["html_url"] = public_url("processing.run_log", run_id=row["run_id"]) if _has("processing.run_log") else None
    item["request_url"] = public_url("api.get_request", username=row["username"], request_name=row["request_name"])
    return item


def layer_item(row: Mapping) -> dict:
    item = jsonable(row)
    item["request_url"] = public_url("api.get_request", username=row["username"], request_name=row["request_name"])
    return item


def _has(endpoint: str) -> bool:
    return endpoint in current_app.view_functions
