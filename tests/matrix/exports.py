"""CSV downloads of the list pages (issue 10): the same rule as the page they export."""

from tests.matrix import same

ROWS = {
    "requests.request_list_csv": ("GET", "/requests/list.csv", same(200, anonymous=302)),
    "requests.sample_list_csv": ("GET", "/requests/samples.csv", same(200, anonymous=302)),
    "clearing.queue_csv": (
        "GET",
        "/clearing/queue.csv?table=pending",
        same(403, anonymous=302, clearing=200, admin=200),
    ),
    "imaging.queue_csv": ("GET", "/imaging/queue.csv?table=ready", same(403, anonymous=302, imaging=200, admin=200)),
    # every logged-in user, like the processing queue page (staff: all rows; others: requests they may view)
    "processing.queue_csv": ("GET", "/processing/queue.csv?table=ready", same(200, anonymous=302)),
    # the antibody history and a batch's clearing log: the same rule as their pages
    "clearing.antibody_history_csv": ("GET", "/clearing/antibodies/history.csv", same(200, anonymous=302)),
    "clearing.batch_log_csv": (
        "GET",
        "/clearing/batch/{owner}/{request}/1/log.csv",
        same(200, anonymous=302, stranger=404),
    ),
}
