from tests.matrix import same

# `{run}` is a queued run of the matrix request (cancel/re-run are processing staff and admins)
ROWS = {
    "processing.run_log": ("GET", "/processing/run/{run}", same(200, anonymous=302, stranger=404)),
    # processing staff cancel the queued run (303); the admin, asked next, finds it already cancelled (400)
    "processing.cancel": (
        "POST",
        "/processing/run/{run}/cancel",
        same(403, anonymous=302, stranger=404, processing=303, admin=400),
    ),
    # no stage chosen (400)
    "processing.rerun": (
        "POST",
        "/processing/run/{run}/rerun",
        same(403, anonymous=302, stranger=404, processing=400, admin=400),
    ),
    # the last 200 lines of a stage's logs: processing staff and admins
    "processing.stage_log": (
        "GET",
        "/processing/run/{run}/logs/0",
        same(403, anonymous=302, stranger=404, processing=200, admin=200),
    ),
}
