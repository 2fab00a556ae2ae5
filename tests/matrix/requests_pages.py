"""Request pages: the sample list for everyone logged in; the overview for
everyone who may view the request, a stranger getting the same 404 as a missing request."""

from tests.matrix import same

ROWS = {
    "requests.sample_list": ("GET", "/requests/samples", same(200, anonymous=302)),
    "requests.overview": ("GET", "/requests/{owner}/{request}", same(200, anonymous=302, stranger=404)),
}
