from tests.matrix import same

ROWS = {
    # owner, collaborator, imaging staff and admins; auditors may look but not act (403); strangers 404
    "imaging.new_imaging_request": (
        "GET",
        "/imaging/new/{owner}/{request}",
        same(200, anonymous=302, stranger=404, auditor=403, clearing=403, processing=403),
    ),
}
