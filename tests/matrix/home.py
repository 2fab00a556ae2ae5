from tests.matrix import same

ROWS = {
    # every signed-in user has a home page; anonymous users are sent to the login page
    "home.index": ("GET", "/", same(200, anonymous=302)),
}
