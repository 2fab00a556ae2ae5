"""Viewer routes. `viewer_world` adds a second request of "owner", `{vrequest}`, shared like the
matrix request (auditor, collaborator), whose imaging request 1 is complete with a ready raw layer; a saved view
of it (`{link}`) made by the owner and its `starting` session (`{session}`); and the synthetic allen_2017 atlas
layer. The matrix request itself is left untouched. Launches are only queued here (no worker)."""

from tests.matrix import same

SETUP_RAW = "/viewer/setup/raw/{owner}/{vrequest}/s1/1"
SETUP = "/viewer/setup/{owner}/{vrequest}/s1/1/1"

ROWS = {
    # whoever may view the request (viewer.open); strangers 404 like a missing request
    "viewer.setup_raw": ("GET", SETUP_RAW, same(200, anonymous=302, stranger=404)),
    "viewer.setup": ("GET", SETUP, same(200, anonymous=302, stranger=404)),
    # the session's owner, whoever may open its link, admins
    "viewer.session_page": ("GET", "/viewer/session/{session}", same(200, anonymous=302, stranger=404)),
    "viewer.session_status": ("GET", "/viewer/session/{session}/status", same(200, anonymous=302, stranger=404)),
    # entering (the access cookie): the session's owner only; the session is still starting here, so the owner is
    # sent back to its page (303); others who may see it get 403
    "viewer.enter_session": (
        "GET",
        "/viewer/session/{session}/enter",
        same(403, anonymous=302, stranger=404, owner=303),
    ),
    # stopping: the session's owner and admins (303, the stop is queued)
    "viewer.stop_session": (
        "POST",
        "/viewer/session/{session}/stop",
        same(403, anonymous=302, stranger=404, owner=303, admin=303),
    ),
    # a link's page (what it shows, a button): viewers of its request; the button's POST starts or reuses the
    # user's own session (303 to its page)
    "viewer.open_link": ("GET", "/viewer/links/{link}", same(200, anonymous=302, stranger=404)),
    "viewer.launch_link": ("POST", "/viewer/links/{link}/open", same(303, anonymous=302, stranger=404)),
    # rename (no title given: 303 back with a message) and revoke: the link's creator (the owner here), the
    # request's owner, admins
    "viewer.edit_link": (
        "POST",
        "/viewer/links/{link}/edit",
        same(403, anonymous=302, stranger=404, owner=303, admin=303),
    ),
    "viewer.revoke_link": (
        "POST",
        "/viewer/links/{link}/revoke",
        same(403, anonymous=302, stranger=404, owner=303, admin=303),
    ),
    # any logged-in user may open an atlas on its own (the page, then its button)
    "viewer.atlas": ("GET", "/viewer/atlas/allen_2017", same(200, anonymous=302)),
    "viewer.launch_atlas": ("POST", "/viewer/atlas/allen_2017/open", same(303, anonymous=302)),
    # admins only
    "viewer.admin_sessions": ("GET", "/viewer/admin/sessions", same(403, anonymous=302, admin=200)),
    "viewer.admin_stop": (
        "POST",
        "/viewer/admin/sessions/{session}/stop",
        same(403, anonymous=302, admin=303),
    ),
    "viewer.admin_sweep": ("POST", "/viewer/admin/sweep", same(403, anonymous=302, admin=303)),
    # gallery entries: admins only; marking without a description is refused (400), taking a link
    # out of the gallery answers 303 back to the page
    "viewer.gallery_admin": ("GET", "/viewer/admin/gallery", same(403, anonymous=302, admin=200)),
    "viewer.gallery_mark": ("POST", "/viewer/admin/gallery/{link}", same(403, anonymous=302, admin=400)),
    "viewer.gallery_unmark": ("POST", "/viewer/admin/gallery/{link}/remove", same(403, anonymous=302, admin=303)),
}


def viewer_world(app, users: dict) -> dict:
    """`{link}` and `{session}` of the matrix request (see the module docstring)."""
    import datetime as dt

    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.layers.services import LayerTarget
    from lightserv.viewer.groups import Choice, GroupKey, build_spec
    from lightserv.viewer.services import create_link, start_session
    from tests.factories import layer_row, new_request, submit
    from tests.support.layers import write_atlas_layer

    owner, name = users["owner"], "matrix_view"
    submit(app, new_request(owner, name, auditors=[users["auditor"], users["collaborator"]]))
    settings = app.config["SETTINGS"]
    atlas = settings.atlas_root / "allen_2017" / "precomputed"
    if not (atlas / "info").is_file():
        write_atlas_layer(atlas)
    ikey = dict(username=owner, request_name=name, sample_name="s1", imaging_request_number=1)
    target = LayerTarget(owner, name, "s1", 1, "1.3x", "488", "raw", lightsheet="left")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with app.test_request_context():
        ls = get_schemas().lightsheet
        ls.Request.Access.update1({"username": owner, "request_name": name, "grantee": users["collaborator"],
                                   "access_level": "collaborator"})  # fmt: skip
        ls.Request.ImagingRequest.update1({**ikey, "imaging_progress": "complete"})
        ls.Request.DataLayer.insert1(layer_row(target, now))
        group = GroupKey("s1", 1, 0, "1.3x", False, "full")
        link = create_link(build_spec(owner, name, group, [Choice("raw", "488", "left")], None), owner)
        db.session.commit()
        session = start_session(link, owner)
        return {"vrequest": name, "link": link.id, "session": session.id}
