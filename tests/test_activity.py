"""Event-log entries read as sentences (lightserv/common/activity.py): every action a request's activity can
hold has one, and none shows an action code, a layer name or an underscore key."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lightserv.common.activity import _SENTENCES, describe

ROOT = Path(__file__).resolve().parents[1] / "lightserv"
#: event-log action families that can belong to a request (user./auth./admin. events belong to accounts)
REQUEST_FAMILIES = ("request", "feedback", "clearing", "imaging", "processing", "run", "job", "layer", "viewer")
ACTION = re.compile(rf"^({'|'.join(REQUEST_FAMILIES)})\.[a-z_]+$")
CODE = re.compile(r"\b[a-z]+\.[a-z_]+\b|_|\(s\)")


def recorded_actions() -> set[str]:
    """The request-related action names the application passes to its event helpers (`record_event` and the
    areas' `event`/`_event` wrappers: the first argument, or a constant of a table like EVENT_OF_KIND)."""
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and node.args and _name(node.func).endswith("event"):
                roots = node.args[:2]  # (action, ...) or (conn, action, ...)
            elif isinstance(node, ast.Assign) and any("EVENT" in _name(t) for t in node.targets):
                roots = [node.value]
            else:
                continue
            for root in roots:
                found |= {c.value for c in ast.walk(root) if isinstance(c, ast.Constant) and ACTION.match(str(c.value))}
    return found


def _name(node: ast.AST) -> str:
    return getattr(node, "id", "") or getattr(node, "attr", "")


def test_every_request_action_the_application_records_has_a_sentence():
    actions = recorded_actions()
    assert {"request.submitted", "layer.ready", "clearing.step_saved", "imaging.sample_completed"} <= actions
    assert not sorted(actions - set(_SENTENCES)), "actions without a sentence in lightserv/common/activity.py"


@pytest.mark.parametrize("action", sorted(_SENTENCES))
def test_no_sentence_shows_a_code_or_a_key(action):
    key = {"username": "ana", "request_name": "brains", "sample_name": "s1", "clearing_batch_number": 1}
    key |= {"imaging_request_number": 2, "processing_request_number": 1, "image_resolution": "1.3x"}
    key |= {"channel_name": "488", "product": "cells_registered", "lightsheet": "none", "grantee": "bo"}
    for actor in ("cleo", None):
        event = {"action": action, "actor": actor, "entity_key": key, "summary": "", "entity_type": "x"}
        text = describe(event | {"after": {"clearer": "ian", "start_stage": "downsize", "reason": "spill"}})
        assert text.startswith(f"{actor} ") if actor and actor in text else text[0].isupper(), text
        assert text.endswith("."), text
        assert not CODE.search(text), text
        assert action not in text


def test_sentences_name_who_did_what_to_which_sample():
    layer = {"sample_name": "s1", "image_resolution": "1.3x", "channel_name": "647", "product": "registered"}
    ready = {"action": "layer.ready", "actor": None, "entity_key": layer, "summary": "Layer registered_ch647 ready"}
    assert describe(ready) == "The atlas-registered image of 647 nm (sample s1, 1.3x) is ready to view."
    raw = dict(layer, product="raw", lightsheet="left")
    assert "raw image of 647 nm (sample s1, 1.3x, left light sheet)" in describe(dict(ready, entity_key=raw))
    claimed = {"action": "clearing.claimed", "actor": "cleo", "entity_key": {"clearing_batch_number": 2}}
    assert describe(claimed) == "cleo took on clearing batch 2."
    step = {"action": "clearing.step_saved", "actor": "cleo", "entity_key": {}, "summary": "Step 3: Wash saved"}
    assert describe(step) == "cleo recorded clearing progress (Step 3: Wash saved)."
    done = {"action": "imaging.sample_completed", "actor": "ian", "entity_key": {"sample_name": "s2"}}
    assert describe(done) == "ian finished imaging of sample s2."


def test_an_action_without_a_sentence_falls_back_to_its_summary_unless_it_holds_codes(app):
    from lightserv.models import EventLog

    plain = EventLog(action="user.role_granted", actor="adm", entity_type="user", entity_key={}, summary="Ian hired")
    assert describe(plain) == "Ian hired."
    coded = EventLog(action="x.y_z", actor=None, entity_type="layer", entity_key={}, summary="Layer blended_ch488 ok")
    assert describe(coded) == "The facility made a change to a data layer."
