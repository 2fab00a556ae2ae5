"""Processing routes. The matrix request's sample s1 has processing request 1/1, pending,
with clearing and imaging not done; ALLOW_SELF_PROCESSING is on (the default), so the owner may open the
entry form and start."""

from tests.matrix import same

PR = "{owner}/{request}/s1/1/1"

ROWS = {
    # every logged-in user (staff see all, others the requests they may view)
    "processing.queue": ("GET", "/processing/queue", same(200, anonymous=302)),
    # processing staff, admins and the owner (self-processing); others who may view the request get 403
    "processing.entry_form": (
        "GET",
        "/processing/entry/" + PR,
        same(403, anonymous=302, stranger=404, owner=200, processing=200, admin=200),
    ),
    # the same people may start, but clearing is not complete (409, nothing written)
    "processing.start": (
        "POST",
        "/processing/entry/" + PR + "/start",
        same(403, anonymous=302, stranger=404, owner=409, processing=409, admin=409),
    ),
    # processing staff and admins; no channel chosen (400)
    "processing.flatfield": (
        "POST",
        "/processing/entry/" + PR + "/flatfield",
        same(403, anonymous=302, stranger=404, processing=400, admin=400),
    ),
    # anyone who may view the request
    "processing.processing_log": ("GET", "/processing/log/" + PR, same(200, anonymous=302, stranger=404)),
}
