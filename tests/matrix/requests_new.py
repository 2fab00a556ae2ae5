from tests.matrix import same

ROWS = {
    # anyone logged in may file a request for themselves
    "requests.new_request": ("GET", "/requests/new", same(200, anonymous=302)),
}
