"""The admin dashboard and its CSVs: facility admins only."""

from tests.matrix import same

ROWS = {
    "admin.dashboard_page": ("GET", "/admin/dashboard", same(403, anonymous=302, admin=200)),
    "admin.dashboard_csv": ("GET", "/admin/dashboard/turnaround.csv", same(403, anonymous=302, admin=200)),
}
