"""Schema ``<prefix>lightsheet``: users, requests and everything below them, the clearing catalogue,
atlases and antibodies.

Tables are declared on an *unactivated* schema; nothing touches the database until
:func:`schemas.activate_all` activates it. Every table below ``Request`` is a part table of ``Request``,
so deleting a request cascades to all of them; part rows created after the request are inserted
directly. Timestamps are UTC ``datetime``; dates are facility-local ``date``.

Notes on the DataJoint 2 spelling of the spec:

- a renamed foreign key ("requested_by → User") is ``-> User.proj(requested_by='username')``;
- a nullable one adds ``[nullable]``;
- a part table references a sibling part as ``-> master.Sibling``; parts are declared in the order
  they appear in the class body, so a referenced part comes first.
"""

from __future__ import annotations

# tables are declared, and created, in the order of these imports
# isort: off
from .base import schema
from .catalogue import Atlas, ClearingProtocol, ClearingSection, ClearingStep
from .request import Request, User
from .antibodies import AntibodyHistory, AntibodyOverview

# isort: on

__all__ = [
    "schema",
    "ClearingProtocol",
    "ClearingSection",
    "ClearingStep",
    "Atlas",
    "User",
    "Request",
    "AntibodyHistory",
    "AntibodyOverview",
]
