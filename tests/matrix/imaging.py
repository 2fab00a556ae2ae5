"""Imaging routes. The matrix request's imaging batch 1/1/1 is pending with no imager and
its clearing batch is still pending; subjects run in order, so a POST that succeeds for "imaging"
changes what "admin" meets next (noted per row)."""

from tests.matrix import same

BATCH = "/imaging/batch/{owner}/{request}/1/1/1"

ROWS = {
    # imaging staff and admins; a researcher who images no batch gets 403
    "imaging.queue": ("GET", "/imaging/queue", same(403, anonymous=302, imaging=200, admin=200)),
    # the form: imaging staff, admins, the batch's imager; others who may view the request get 403
    "imaging.batch_form": ("GET", BATCH, same(403, anonymous=302, stranger=404, imaging=200, admin=200)),
    # imaging claims (303); the admin then meets a batch held by someone else (403)
    "imaging.claim": ("POST", BATCH + "/claim", same(403, anonymous=302, stranger=404, imaging=303)),
    # imaging staff and admins may start, but clearing is not complete (409)
    "imaging.start": ("POST", BATCH + "/start", same(403, anonymous=302, stranger=404, imaging=409, admin=409)),
    # only the imager or an admin; the batch has no imager to release (409)
    "imaging.release": ("POST", BATCH + "/release", same(403, anonymous=302, stranger=404, admin=409)),
    # entry-form actions: the imager or an admin; the batch is not started yet (409)
    "imaging.apply": ("POST", BATCH + "/apply", same(403, anonymous=302, stranger=404, admin=409)),
    "imaging.save_sample": ("POST", BATCH + "/sample/s1/save", same(403, anonymous=302, stranger=404, admin=409)),
    "imaging.submit_sample": ("POST", BATCH + "/sample/s1/submit", same(403, anonymous=302, stranger=404, admin=409)),
    "imaging.skip_sample": ("POST", BATCH + "/sample/s1/skip", same(403, anonymous=302, stranger=404, admin=409)),
    "imaging.complete": ("POST", BATCH + "/complete", same(403, anonymous=302, stranger=404, admin=409)),
    # no channel named (400)
    "imaging.add_ventral": ("POST", BATCH + "/ventral/add", same(403, anonymous=302, stranger=404, admin=400)),
    "imaging.add_ventral_sample": (
        "POST",
        BATCH + "/sample/s1/ventral/add",
        same(403, anonymous=302, stranger=404, admin=400),
    ),
    # admins only; the sample is not done (409)
    "imaging.reopen_sample": ("POST", BATCH + "/sample/s1/reopen", same(403, anonymous=302, stranger=404, admin=409)),
    # JSON status: whoever may open the form
    "imaging.validation": (
        "GET",
        BATCH + "/sample/s1/validation",
        same(403, anonymous=302, stranger=404, imaging=200, admin=200),
    ),
    # anyone who may view the request; imaging of s1 is not done, so the log redirects to the overview
    "imaging.imaging_log": ("GET", "/imaging/log/{owner}/{request}/s1/1", same(302, stranger=404)),
    # add/delete channel: the imager or an admin; the batch is not started yet (400 for add: no channel named
    # is checked first; 409 for delete)
    "imaging.add_channel": ("POST", BATCH + "/channel/add", same(403, anonymous=302, stranger=404, admin=400)),
    "imaging.delete_channel": ("POST", BATCH + "/channel/delete", same(403, anonymous=302, stranger=404, admin=409)),
    "imaging.add_channel_sample": (
        "POST",
        BATCH + "/sample/s1/channel/add",
        same(403, anonymous=302, stranger=404, admin=400),
    ),
    "imaging.delete_channel_sample": (
        "POST",
        BATCH + "/sample/s1/channel/delete",
        same(403, anonymous=302, stranger=404, admin=409),
    ),
    # admins only; no assignee chosen (400)
    "imaging.assign": ("POST", BATCH + "/assign", same(403, anonymous=302, stranger=404, admin=400)),
    # change resolution: the imager or an admin; no resolution chosen (400)
    "imaging.change_resolution": (
        "POST",
        BATCH + "/resolution/change",
        same(403, anonymous=302, stranger=404, admin=400),
    ),
    "imaging.change_resolution_sample": (
        "POST",
        BATCH + "/sample/s1/resolution/change",
        same(403, anonymous=302, stranger=404, admin=400),
    ),
}
