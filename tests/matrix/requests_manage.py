from tests.matrix import same

LOGIN = 302  # anonymous users are redirected to the login page
# POST rows post only a CSRF token: the owner and admins get 400 (nothing typed / no action), everyone who
# may view the request but not act gets 403, a stranger 404 exactly like a missing request.
OWNER_OR_ADMIN_POST = same(403, anonymous=LOGIN, stranger=404, owner=400, admin=400)

ROWS = {
    "requests.delete_request": ("POST", "/requests/{owner}/{request}/delete", OWNER_OR_ADMIN_POST),
    "requests.change_access": ("POST", "/requests/{owner}/{request}/access", OWNER_OR_ADMIN_POST),
    # name suggestions for the sharing and new-request forms: everyone who may submit a request
    "requests.suggest_users": ("GET", "/users/suggest?q=m-", same(200, anonymous=LOGIN)),
    # owner or collaborator only (staff and admins do not give feedback)
    "requests.feedback": (
        "GET",
        "/requests/{owner}/{request}/feedback",
        same(403, anonymous=LOGIN, stranger=404, owner=200, collaborator=200),
    ),
    # static pages need login; /about stays public (tests/matrix/foundation.py)
    "requests.faq": ("GET", "/faq", same(200, anonymous=LOGIN)),
    "requests.gallery": ("GET", "/gallery", same(200, anonymous=LOGIN)),
    "requests.publications": ("GET", "/publications", same(200, anonymous=LOGIN)),
    "requests.pre_handoff": ("GET", "/pre-handoff", same(200, anonymous=LOGIN)),
}
