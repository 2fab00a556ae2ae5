"""Notification preferences (issue 10): every signed-in user, for themselves."""

from tests.matrix import same

ROWS = {
    "notifications.preferences_page": ("GET", "/profile/notifications", same(200, anonymous=302)),
}
