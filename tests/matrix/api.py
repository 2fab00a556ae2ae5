"""The JSON API (docs/api.md) with a browser session (the token cases are in tests/api): lists for
everyone signed in (401 JSON otherwise), one request or run for those who may view it, a stranger
getting the same 404 as for a missing one; the token page for everyone signed in."""

from tests.matrix import same

ROWS = {
    "api.index": ("GET", "/api/v1/", same(200, anonymous=401)),
    "api.list_requests": ("GET", "/api/v1/requests", same(200, anonymous=401)),
    "api.get_request": ("GET", "/api/v1/requests/{owner}/{request}", same(200, anonymous=401, stranger=404)),
    "api.list_samples": ("GET", "/api/v1/samples", same(200, anonymous=401)),
    "api.list_runs": ("GET", "/api/v1/runs", same(200, anonymous=401)),
    "api.get_run": ("GET", "/api/v1/runs/{run}", same(200, anonymous=401, stranger=404)),
    "api.list_layers": ("GET", "/api/v1/layers", same(200, anonymous=401)),
    "api.token_page": ("GET", "/profile/api-token", same(200, anonymous=302)),
    "api.token_action": ("POST", "/profile/api-token", same(400, anonymous=302)),  # no action named
}
