from tests.matrix import same

ROWS = {
    # owner, collaborator, processing staff and admins; auditors, clearing and imaging staff may look at
    # the request but not act (403); strangers 404 like a missing request
    "processing.new_processing_request": (
        "GET",
        "/processing/new/{owner}/{request}/1",
        same(200, anonymous=302, stranger=404, auditor=403, clearing=403, imaging=403),
    ),
}
