from tests.matrix import same

# `{run}` is a queued run of the matrix request (README §3: cancel/re-run are processing staff and admins)
ROWS = {
    "processing.run_log": ("GET", "/processing/runs/{run}", same(200, anonymous=302, stranger=404)),
    # processing staff cancel the queued run (302); the admin, asked next, finds it already cancelled (400)
    "processing.cancel": (
        "POST",
        "/processing/runs/{run}/cancel",
        same(403, anonymous=302, stranger=404, processing=302, admin=400),
    ),
    "processing.rerun": (
        "POST",
        "/processing/runs/{run}/rerun",
        same(403, anonymous=302, stranger=404, processing=400, admin=400),
    ),
}
