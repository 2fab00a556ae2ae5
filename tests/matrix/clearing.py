"""Clearing routes. The matrix request's batch 1 is pending with no clearer; subjects
run in order, so a POST that succeeds for "clearing" changes what "admin" meets next (noted per row)."""

from tests.matrix import same

BATCH = "/clearing/batch/{owner}/{request}/1"
MISSING = 999_999_999  # no antibody row has this id

ROWS = {
    # clearing staff and admins; a researcher who holds no batch gets 403
    "clearing.queue": ("GET", "/clearing/queue", same(403, anonymous=302, clearing=200, admin=200)),
    # the form: clearing staff, admins, the batch's clearer; others who may view the request get 403
    "clearing.batch_form": ("GET", BATCH, same(403, anonymous=302, stranger=404, clearing=200, admin=200)),
    # clearing claims (303); the admin then meets a batch held by someone else (403)
    "clearing.claim": ("POST", BATCH + "/claim", same(403, anonymous=302, stranger=404, clearing=303)),
    # clearing starts an unassigned batch and claims it (303); the admin then meets a started batch (409)
    "clearing.start": ("POST", BATCH + "/start", same(403, anonymous=302, stranger=404, clearing=303, admin=409)),
    # only the clearer or an admin; the batch has no clearer to release (409)
    "clearing.release": ("POST", BATCH + "/release", same(403, anonymous=302, stranger=404, admin=409)),
    # admins only; no assignee chosen (400)
    "clearing.assign": ("POST", BATCH + "/assign", same(403, anonymous=302, stranger=404, admin=400)),
    # admins only; the batch is not complete (409)
    "clearing.reopen": ("POST", BATCH + "/reopen", same(403, anonymous=302, stranger=404, admin=409)),
    # the clearer or an admin; no group named (400: unknown action)
    "clearing.save": ("POST", BATCH + "/save", same(403, anonymous=302, stranger=404, admin=400)),
    # the clearer or an admin; a pending batch cannot be completed (409)
    "clearing.complete": ("POST", BATCH + "/complete", same(403, anonymous=302, stranger=404, admin=409)),
    # anyone who may view the request
    "clearing.batch_log": ("GET", BATCH + "/log", same(200, anonymous=302, stranger=404)),
    "clearing.batch_calendar": ("GET", BATCH + "/calendar.ics", same(200, anonymous=302, stranger=404)),
    # antibody pages
    "clearing.antibody_history": ("GET", "/clearing/antibodies/history", same(200, anonymous=302)),
    "clearing.antibody_history_new": (
        "GET",
        "/clearing/antibodies/history/new",
        same(403, anonymous=302, clearing=200, admin=200),
    ),
    # the row decides who may edit it, so a missing row is 404 for everyone logged in
    "clearing.antibody_history_edit": (
        "GET",
        f"/clearing/antibodies/history/{MISSING}/edit",
        same(404, anonymous=302),
    ),
    "clearing.antibody_overview": ("GET", "/clearing/antibodies/overview", same(200, anonymous=302)),
    "clearing.antibody_overview_new": (
        "GET",
        "/clearing/antibodies/overview/new",
        same(403, anonymous=302, clearing=200, admin=200),
    ),
    "clearing.antibody_overview_edit": (
        "GET",
        f"/clearing/antibodies/overview/{MISSING}/edit",
        same(403, anonymous=302, clearing=404, admin=404),
    ),
    "clearing.antibody_overview_delete": (
        "POST",
        f"/clearing/antibodies/overview/{MISSING}/delete",
        same(403, anonymous=302, clearing=404, admin=404),
    ),
}
