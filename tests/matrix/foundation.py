from tests.matrix import same

LOGIN = 302  # anonymous users are redirected to the login page

ROWS = {
    "auth.login": ("GET", "/login", same(302, anonymous=200)),
    "auth.logout": ("GET", "/logout", same(200)),
    "auth.profile": ("GET", "/profile", same(200, anonymous=LOGIN)),
    # nobody's session: ending it is a 404, whoever asks
    "auth.end_session": ("POST", "/profile/sessions/0123456789abcdef0123456789abcdef/end", same(404, anonymous=LOGIN)),
    "auth.end_other_sessions": ("POST", "/profile/sessions/end-others", same(302, anonymous=LOGIN)),
    "health.healthz": ("GET", "/healthz", same(503)),  # no worker runs in this test
    "requests.request_list": ("GET", "/requests/", same(200, anonymous=LOGIN)),
    "requests.about": ("GET", "/about", same(200)),
    "admin.users": ("GET", "/admin/users", same(403, anonymous=LOGIN, admin=200)),
    "admin.create_user": ("POST", "/admin/users/new", same(403, anonymous=LOGIN, admin=400)),
    "admin.change_role": ("POST", "/admin/users/roles", same(403, anonymous=LOGIN, admin=400)),
    "admin.change_active": ("POST", "/admin/users/active", same(403, anonymous=LOGIN, admin=400)),
    "admin.event_log": ("GET", "/admin/events", same(403, anonymous=LOGIN, admin=200)),
    "admin.event_log_csv": ("GET", "/admin/events.csv", same(403, anonymous=LOGIN, admin=200)),
    "admin.storage_page": ("GET", "/admin/storage", same(403, anonymous=LOGIN, admin=200)),
    "admin.storage_check_now": ("POST", "/admin/storage/check", same(403, anonymous=LOGIN, admin=302)),
}
