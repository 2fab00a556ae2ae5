"""The read-only JSON API (`/api/v1/`) and the personal API-token page."""
