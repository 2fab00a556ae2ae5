"""Demo content for `make run` (DEV only): the demo accounts (accounts.py), and one
request of the demo researcher in every state with synthetic raw data and one fully processed sample
(content.py), on the synthetic atlas where no atlas is installed (atlas.py)."""

from .accounts import DEMO_USERS, PASSWORD_FILE, demo_password, seed_demo
from .cluster import DemoError
from .content import STATES, Seeded, request_state, seed_demo_requests

__all__ = [
    "DEMO_USERS",
    "PASSWORD_FILE",
    "STATES",
    "DemoError",
    "Seeded",
    "demo_password",
    "request_state",
    "seed_demo",
    "seed_demo_requests",
]
