"""Who receives a request's emails: "requester" is the request's correspondence
address plus collaborators who opted in to cc; staff recipients come from role grants."""

from __future__ import annotations

from lightserv.db import get_schemas


def requester_addresses(owner: str, request_name: str) -> list[str]:
    ls = get_schemas().lightsheet
    key = {"username": owner, "request_name": request_name}
    rows = (ls.Request & key).to_dicts()
    if not rows:
        return []
    grantees = [
        r["grantee"]
        for r in (ls.Request.Access & key & "access_level = 'collaborator'" & "cc_on_emails = 1").to_dicts()
    ]
    emails = [r["email"] for r in (ls.User & [{"username": g} for g in grantees]).to_dicts()] if grantees else []
    return list(dict.fromkeys([rows[0]["correspondence_email"], *[e for e in emails if e]]))
