"""Facility-operations admin pages (issue 10): the retention report and its CSV, archival import.
Facility admins only; posting an archival import without a file (or without the previewed rows) is a 400."""

from tests.matrix import same

ROWS = {
    "admin.retention_page": ("GET", "/admin/retention", same(403, anonymous=302, admin=200)),
    "admin.retention_csv": ("GET", "/admin/retention.csv?view=superseded", same(403, anonymous=302, admin=200)),
    "admin.archival_page": ("GET", "/admin/archival", same(403, anonymous=302, admin=200)),
    "admin.archival_template": ("GET", "/admin/archival/template.csv", same(403, anonymous=302, admin=200)),
    "admin.archival_preview": ("POST", "/admin/archival/preview", same(403, anonymous=302, admin=400)),
    "admin.archival_import": ("POST", "/admin/archival/import", same(403, anonymous=302, admin=400)),
}
