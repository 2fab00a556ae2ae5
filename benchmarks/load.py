"""Load test (issue 11): the scenario (simulated users browsing, filing and saving forms over HTTP) and the
nothing-lost checks (what the database holds afterwards). Locust sends the traffic and keeps the per-page
statistics (`benchmarks/traffic.py`, `benchmarks/locustfile.py`); `benchmarks/report.py` writes the figures;
`benchmarks/seed.py` and `benchmarks/facility.py` seed the 5,000-request facility and create the accounts.

`prepare` seeds a schema prefix and chooses the users and their batches. Roles by `role_mix`: for 20 users
12 researchers, 1 facility admin, 4 clearing staff, 3 imaging staff.

- researchers (seeded owners of about 16 requests each) open their request list (paginated, sorted,
  filtered), the sample list and the overviews linked from their list, and file new requests through the
  new-request form exactly as a browser posts it (details, "Set up samples", "Add resolution", "Copy
  imaging", "Review request", then "Submit request" on the review page), each under a unique name;
- the facility admin browses every request: list pages, the list sorted by status, filters, the sample
  list, overviews, the three queues;
- clearing staff start (and so claim) pending, unassigned clearing batches, then open the clearing queue
  and the entry forms and save a step's notes (or the experiment notes) again and again;
- imaging staff start pending imaging batches of cleared samples, then open the imaging queue and the
  batch pages and save a pending sample's notes again and again.

Every response is checked against the status a browser expects (200 for pages, 302/303 after a successful
POST); anything else is an error, kept with its body (and a failure in Locust's statistics). `verify` then
counts, by the unique names the users generated, that every filed request exists exactly once with its
samples, its submission event and its confirmation email, and that every staff save is what the last save
wrote (and was logged exactly once).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlencode, urljoin

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.facility import PASSWORD, connect, create_accounts, query  # noqa: E402
from benchmarks.forms import form_by_action, form_by_id, forms_of  # noqa: E402
from benchmarks.seed import seed_prefix  # noqa: E402

CLEARING_BATCHES_PER_USER = 3
IMAGING_BATCHES_PER_USER = 2
REQUEST_SORTS = ("submitted_at", "request_name", "species", "number_of_samples", "cleared", "imaged", "status")
SAMPLE_SORTS = ("sample_name", "request_name", "protocol", "clearing_progress", "submitted_at")
STATUSES = ("pending", "progress", "attention", "complete")
RESOLUTIONS = ("1.3x", "1.1x", "3.6x", "2x")
RETENTION = ("important", "kind_of_important", "not_important", "not_sure")
OVERVIEW_RE = re.compile(r'href="/requests/([a-z0-9][a-z0-9._-]{0,31})/([A-Za-z0-9_]+)"')
SAVE_ACTIONS = ("clearing.step_saved", "clearing.notes_saved", "imaging.sample_saved")


# --------------------------------------------------------------------------------------------------
# The plan: who the users are and what they work on
# --------------------------------------------------------------------------------------------------


@dataclass
class SimUser:
    index: int
    username: str
    role: str  # researcher, admin, clearing, imaging
    batches: list[str] = field(default_factory=list)  # clearing entry-form / imaging batch-page paths
    own_requests: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Plan:
    prefix: str
    run_id: str
    users: list[SimUser]
    request_keys: list[tuple[str, str]]  # every seeded request (the admin's overviews)
    seed: dict

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def read(cls, path: Path) -> Plan:
        data = json.loads(path.read_text())
        users = [SimUser(**{**u, "own_requests": [tuple(k) for k in u["own_requests"]]}) for u in data.pop("users")]
        return cls(users=users, **{**data, "request_keys": [tuple(k) for k in data["request_keys"]]})


def role_mix(n: int) -> list[str]:
    """Roles of `n` users: about 60 % researchers, 20 % clearing staff, 15 % imaging staff, 1 admin."""
    if n < 4:
        return ["researcher", "clearing", "imaging"][:n]
    clearing = max(1, round(n * 0.2))
    imaging = max(1, round(n * 0.15))
    admin = 1 if n >= 8 else 0
    researchers = n - clearing - imaging - admin
    return ["researcher"] * researchers + ["admin"] * admin + ["clearing"] * clearing + ["imaging"] * imaging



def _pick_batches(prefix: str, clearers: int, imagers: int) -> tuple[list[tuple], list[tuple]]:
    """Pending, unassigned clearing batches, and pending unassigned imaging batches of cleared samples with a
    pending member, spread over the seeded requests (deterministic)."""
    ls = f"`{prefix}lightsheet`"
    with connect() as conn:
        clearing = query(
            conn,
            f"SELECT username, request_name, clearing_batch_number FROM {ls}.request__clearing_batch "
            "WHERE clearing_progress = 'pending' AND clearer IS NULL ORDER BY request_name, clearing_batch_number",
        )
        imaging = query(
            conn,
            f"SELECT ib.username, ib.request_name, ib.clearing_batch_number, ib.imaging_request_number,"
            f" ib.imaging_batch_number FROM {ls}.request__imaging_batch ib"
            f" JOIN {ls}.request__clearing_batch cb USING (username, request_name, clearing_batch_number)"
            " WHERE ib.imaging_progress = 'pending' AND ib.imager IS NULL AND cb.clearing_progress = 'complete'"
            f" AND EXISTS (SELECT 1 FROM {ls}.request__imaging_batch_sample m JOIN {ls}.request__imaging_request ir"
            " USING (username, request_name, sample_name, imaging_request_number)"
            " WHERE m.username = ib.username AND m.request_name = ib.request_name"
            " AND m.clearing_batch_number = ib.clearing_batch_number"
            " AND m.imaging_request_number = ib.imaging_request_number"
            " AND m.imaging_batch_number = ib.imaging_batch_number AND ir.imaging_progress = 'pending')"
            " ORDER BY ib.request_name, ib.clearing_batch_number",
        )
    need_c, need_i = clearers * CLEARING_BATCHES_PER_USER, imagers * IMAGING_BATCHES_PER_USER
    if len(clearing) < need_c or len(imaging) < need_i:
        raise RuntimeError(f"the seed has too few open batches ({len(clearing)} clearing, {len(imaging)} imaging)")
    step_c, step_i = len(clearing) // need_c, len(imaging) // need_i
    return clearing[::step_c][:need_c], imaging[::step_i][:need_i]


def prepare(
    prefix: str, n_users: int, redis_url: str | None = None, requests_: int = 5000, samples: int = 20000
) -> Plan:
    """Seed `prefix`, choose the users and their batches, create their accounts."""
    seed = seed_prefix(prefix, requests_, samples)
    roles = role_mix(n_users)
    ls = f"`{prefix}lightsheet`"
    with connect() as conn:
        keys = query(conn, f"SELECT username, request_name FROM {ls}.request ORDER BY username, request_name")
        owners = query(
            conn,
            f"SELECT username FROM {ls}.request WHERE username LIKE 'user%%' GROUP BY username"
            " HAVING COUNT(*) >= 5 ORDER BY username",
        )
    by_owner: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for owner, name in keys:
        by_owner[owner].append((owner, name))
    researcher_names = [o for (o,) in owners]
    clearing, imaging = _pick_batches(prefix, roles.count("clearing"), roles.count("imaging"))
    users: list[SimUser] = []
    counts: Counter[str] = Counter()
    for i, role in enumerate(roles):
        counts[role] += 1
        k = counts[role] - 1
        if role == "researcher":
            name = researcher_names[k]
            users.append(SimUser(i, name, role, own_requests=by_owner[name]))
        elif role == "admin":
            users.append(SimUser(i, f"load_admin{k + 1}", role))
        elif role == "clearing":
            mine = clearing[k * CLEARING_BATCHES_PER_USER : (k + 1) * CLEARING_BATCHES_PER_USER]
            paths = [f"/clearing/batch/{u}/{r}/{n}" for u, r, n in mine]
            users.append(SimUser(i, f"load_clearer{k + 1}", role, batches=paths))
        else:
            mine = imaging[k * IMAGING_BATCHES_PER_USER : (k + 1) * IMAGING_BATCHES_PER_USER]
            paths = [f"/imaging/batch/{u}/{r}/{cb}/{ir}/{ib}" for u, r, cb, ir, ib in mine]
            users.append(SimUser(i, f"load_imager{k + 1}", role, batches=paths))
    create_accounts(prefix, [(u.username, u.role) for u in users], redis_url)
    return Plan(prefix, uuid.uuid4().hex[:6], users, [tuple(k) for k in keys], seed)


# --------------------------------------------------------------------------------------------------
# Recording what the users saw
# --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the users did and saw, beyond Locust's statistics (`stats`: page -> figures)."""

    errors: list[dict] = field(default_factory=list)  # responses a browser would not expect, with their body
    filed: list[tuple[str, str, int]] = field(default_factory=list)  # owner, request name, samples
    failed_filings: list[tuple[str, str]] = field(default_factory=list)  # submit posted, answer not a redirect
    saves: dict[tuple[str, str], str] = field(default_factory=dict)  # (batch path, field) -> last value saved
    saves_by_user: Counter = field(default_factory=Counter)
    started_batches: list[str] = field(default_factory=list)
    stats: dict[str, dict] = field(default_factory=dict)  # Locust's, per page and "all pages"
    wall_seconds: float = 0.0
    driver_cpu_seconds: float = 0.0  # CPU the simulated users themselves used (they share the machine)
    load_average: dict[str, list[float]] = field(default_factory=dict)  # the machine's, at start and end
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, page: str, method: str, path: str, status: int, user: str, body: str) -> None:
        with self.lock:
            self.errors.append(
                {"page": page, "method": method, "path": path, "status": status, "user": user, "body": body[:3000]}
            )

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "lock"}
        data["saves"] = [[*key, value] for key, value in self.saves.items()]
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        data = json.loads(text)
        data["saves"] = {(path, name): value for path, name, value in data["saves"]}
        data["saves_by_user"] = Counter(data["saves_by_user"])
        data["filed"] = [tuple(f) for f in data["filed"]]
        data["failed_filings"] = [tuple(f) for f in data["failed_filings"]]
        return cls(**data)


class Browser:
    """One user's session (`http`: Locust's HttpSession): every call checked, and timed by Locust under a
    page label."""

    def __init__(self, http, user: SimUser, outcome: Outcome, timeout: float = 120.0):
        self.http = http
        self.base = http.base_url.rstrip("/")
        self.user = user
        self.outcome = outcome
        self.timeout = timeout

    def call(self, page: str, method: str, path: str, data=None, expect=(200,)):
        with self.http.request(
            method, path, name=page, data=data, allow_redirects=False, timeout=self.timeout, catch_response=True
        ) as resp:
            ok = resp.status_code in expect
            if ok:
                resp.success()
            else:
                resp.failure(f"{resp.status_code}, expected {expect}")
                body = resp.text if resp.status_code else repr(resp.error)
                self.outcome.error(page, method, path, resp.status_code, self.user.username, body or "")
        return resp if ok else None

    def get(self, page: str, path: str):
        return self.call(page, "GET", path)

    def post(self, page: str, path: str, data, expect=(303,)):
        return self.call(page, "POST", path, data=data, expect=expect)

    def follow(self, resp, page: str):
        location = urldefrag(urljoin(self.base + "/", resp.headers.get("Location", "/")))[0]
        return self.get(page, location[len(self.base) :] if location.startswith(self.base) else location)

    def login(self) -> bool:
        resp = self.get("login page", "/login")
        form = form_by_action(resp.text, "/login") if resp is not None else None
        if form is None:
            return False
        form.set("username", self.user.username)
        form.set("password", PASSWORD)
        return self.post("login", form.attrs["action"], form.data(), expect=(302, 303)) is not None


# --------------------------------------------------------------------------------------------------
# What each kind of user does
# --------------------------------------------------------------------------------------------------


class SimulatedUser:
    """What one user of the plan does, action after action (`act`), through its `browser`."""

    def __init__(self, plan: Plan, user: SimUser, browser: Browser, seed: int):
        self.plan, self.user, self.outcome = plan, user, browser.outcome
        self.browser = browser
        self.rng = random.Random(seed * 1000 + user.index)
        self.links: list[tuple[str, str]] = list(user.own_requests)
        self.filed = 0
        self.saves = 0
        self.batches: list[str] = []

    # -- researchers ------------------------------------------------------------------------------

    def _remember_links(self, resp) -> None:
        if resp is not None:
            found = OVERVIEW_RE.findall(resp.text)
            if found:
                self.links = found

    def researcher(self) -> None:
        b, rng, r = self.browser, self.rng, self.rng.random()
        if r < 0.22:
            self._remember_links(b.get("request list", "/requests/"))
        elif r < 0.37:
            query = {"sort": rng.choice(REQUEST_SORTS), "direction": rng.choice(("asc", "desc"))}
            self._remember_links(b.get("request list, sorted", "/requests/?" + urlencode(query)))
        elif r < 0.47:
            query = rng.choice(({"status": rng.choice(STATUSES)}, {"species": "mouse"}, {"q": "c-Fos"}, {"q": "load"}))
            self._remember_links(b.get("request list, filtered", "/requests/?" + urlencode(query)))
        elif r < 0.62:
            query = {
                "sort": rng.choice(SAMPLE_SORTS),
                "direction": rng.choice(("asc", "desc")),
                "page": rng.randint(1, 2),
            }
            b.get("sample list", "/requests/samples?" + urlencode(query))
        elif r < 0.88:
            if self.links:
                owner, name = rng.choice(self.links)
                b.get("request overview", f"/requests/{owner}/{name}")
        else:
            self.file_request()

    def file_request(self) -> None:
        b, rng = self.browser, self.rng
        self.filed += 1
        owner = self.user.username
        name = f"load_{self.plan.run_id}_{self.user.index:02d}_{self.filed:04d}"
        n = rng.randint(1, 3)
        resp = b.get("new request form", "/requests/new")
        form = form_by_id(resp.text, "new-request-form") if resp is not None else None
        if form is None:
            return
        form.set("request_name", name)
        form.set("labname", "Load Lab")
        form.set("description", f"Load test request {self.filed} of {owner}: c-Fos after a task")
        form.set("number_of_samples", str(n))
        form.set("raw_data_retention_preference", rng.choice(RETENTION))
        resp = b.post("new request: set up samples", "/requests/new", form.data(action="setup"), expect=(200,))
        form = form_by_id(resp.text, "new-request-form") if resp is not None else None
        if form is None:
            return
        handoff = (dt.date.today() + dt.timedelta(days=rng.randint(7, 60))).isoformat()
        for i in range(n):
            form.set(f"samples-{i}-expected_handoff_date", handoff)
        form.set("samples-0-new_resolution", rng.choice(RESOLUTIONS))
        resp = b.post("new request: add resolution", "/requests/new", form.data(action="add_resolution:0"), (200,))
        form = form_by_id(resp.text, "new-request-form") if resp is not None else None
        if form is None:
            return
        table = "samples-0-resolutions-0-channels-"
        if not any(f.startswith(table) and not f.endswith("-channel_name") for f in form.names()):
            # only mouse 1.1x/1.3x start with a purpose (488 registration): tick one as a user must
            form.tick(rng.choice([c for c in form.checkboxes if c.startswith(table) and c.endswith("generic_imaging")]))
        elif rng.random() < 0.5 and f"{table}2-cell_detection" in form.checkboxes:
            form.tick(f"{table}2-cell_detection")
        if n > 1:
            resp = b.post("new request: copy imaging", "/requests/new", form.data(action="copy_imaging"), (200,))
            form = form_by_id(resp.text, "new-request-form") if resp is not None else None
            if form is None:
                return
        resp = b.post("new request: review", "/requests/new", form.data(action="submit"), expect=(200,))
        form = form_by_id(resp.text, "new-request-review") if resp is not None else None
        if form is None:
            if resp is not None:  # the form came back with problems instead of the review page
                self.outcome.error("new request: review", "POST", "/requests/new", 200, owner, resp.text)
            return
        resp = b.post("new request: submit", "/requests/new", form.data(action="submit"), expect=(302, 303))
        with self.outcome.lock:
            if resp is None:
                self.outcome.failed_filings.append((owner, name))
            else:
                self.outcome.filed.append((owner, name, n))
        if resp is not None:
            self._remember_links(b.follow(resp, "request list"))

    # -- the facility admin -----------------------------------------------------------------------

    def admin(self) -> None:
        b, rng, r = self.browser, self.rng, self.rng.random()
        pages = max(1, math.ceil(len(self.plan.request_keys) / 50))
        if r < 0.30:
            b.get("request list (admin)", f"/requests/?page={rng.randint(1, pages)}")
        elif r < 0.42:
            query = {"sort": "status", "direction": rng.choice(("asc", "desc")), "page": rng.randint(1, 20)}
            b.get("request list (admin), sorted by status", "/requests/?" + urlencode(query))
        elif r < 0.52:
            owner = rng.choice(self.plan.request_keys)[0]
            query = rng.choice(({"status": rng.choice(STATUSES)}, {"species": "rat"}, {"owner": owner}))
            b.get("request list (admin), filtered", "/requests/?" + urlencode(query))
        elif r < 0.70:
            b.get("sample list (admin)", f"/requests/samples?page={rng.randint(1, pages * 4)}")
        elif r < 0.88:
            owner, name = rng.choice(self.plan.request_keys)
            b.get("request overview (admin)", f"/requests/{owner}/{name}")
        elif r < 0.92:
            b.get("clearing queue", "/clearing/queue")
        elif r < 0.96:
            b.get("imaging queue", "/imaging/queue")
        else:
            b.get("processing queue", "/processing/queue")

    # -- staff ------------------------------------------------------------------------------------

    def start_batches(self, area: str) -> None:
        """Open each batch of the plan and press Start (which claims it)."""
        page = "clearing entry form" if area == "clearing" else "imaging batch page"
        for path in self.user.batches:
            resp = self.browser.get(page, path)
            form = form_by_action(resp.text, "/start") if resp is not None else None
            if form is None:
                self.outcome.error(page, "GET", path, 0, self.user.username, "no Start button")
                continue
            resp = self.browser.post(f"{area} start", form.attrs["action"], form.data())
            if resp is not None:
                self.browser.follow(resp, page)
                self.batches.append(path)
                with self.outcome.lock:
                    self.outcome.started_batches.append(path)

    def _value(self) -> str:
        self.saves += 1
        return f"load {self.plan.run_id} {self.user.username} save {self.saves}"

    def clearing(self) -> None:
        b, rng, r = self.browser, self.rng, self.rng.random()
        if r < 0.25 or not self.batches:
            b.get("clearing queue", "/clearing/queue" + ("?mine=1" if rng.random() < 0.5 else ""))
            return
        path = rng.choice(self.batches)
        resp = b.get("clearing entry form", path)
        if r < 0.45 or resp is None:
            return
        form = form_by_id(resp.text, "entry-form")
        if form is None or form.disabled:
            self.outcome.error("clearing entry form", "GET", path, 0, self.user.username, "read-only")
            return
        steps = [n[len("step-") : -len("-notes")] for n in form.names() if re.fullmatch(r"step-.+-notes", n)]
        if steps:
            step = rng.choice(steps)
            name, group = f"step-{step}-notes", f"step:{step}"
        else:
            name, group = "exp_notes", "exp_notes"
        value = self._value()
        form.set(name, value)
        resp = b.post("clearing save", form.attrs["action"], form.data(group=group))
        if resp is not None:
            with self.outcome.lock:
                self.outcome.saves[(path, name)] = value
                self.outcome.saves_by_user[self.user.username] += 1
            b.follow(resp, "clearing entry form")

    def imaging(self) -> None:
        b, rng, r = self.browser, self.rng, self.rng.random()
        if r < 0.25 or not self.batches:
            b.get("imaging queue", "/imaging/queue" + ("?mine=1" if rng.random() < 0.5 else ""))
            return
        path = rng.choice(self.batches)
        resp = b.get("imaging batch page", path)
        if r < 0.45 or resp is None:
            return
        forms = [f for f in forms_of(resp.text) if (f.attrs.get("id") or "").startswith("sample-form-")]
        editable = [f for f in forms if not f.disabled]
        if not editable:
            return
        form = rng.choice(editable)
        sample = form.attrs["id"][len("sample-form-") :]
        value = self._value()
        form.set("notes", value)
        resp = b.post("imaging sample save", form.attrs["action"], form.data())
        if resp is not None:
            with self.outcome.lock:
                self.outcome.saves[(path, sample)] = value
                self.outcome.saves_by_user[self.user.username] += 1
            b.follow(resp, "imaging batch page")

    # -- the loop ---------------------------------------------------------------------------------

    def start(self) -> bool:
        """Log in (staff then start their batches); False when the login failed."""
        if not self.browser.login():
            return False
        if self.user.role in ("clearing", "imaging"):
            self.start_batches(self.user.role)
        return True

    def act(self) -> None:
        getattr(self, self.user.role)()


# --------------------------------------------------------------------------------------------------
# What the database holds afterwards
# --------------------------------------------------------------------------------------------------


def wait_for_emails(prefix: str, run_id: str, timeout: float = 120.0) -> dict[str, int]:
    """Wait until no confirmation email of this run is queued or being sent; returns the count per status."""
    app = f"`{prefix}app`"
    deadline = time.monotonic() + timeout
    while True:
        with connect() as conn:
            rows = query(
                conn,
                f"SELECT status, COUNT(*) FROM {app}.email_outbox WHERE request_name LIKE %s GROUP BY status",
                (f"load\\_{run_id}\\_%",),
            )
        counts = {status: n for status, n in rows}
        if not (counts.get("queued") or counts.get("sending")) or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def verify(plan: Plan, outcome: Outcome) -> dict:
    """Problems found in the database (every list empty = nothing lost, nothing duplicated)."""
    ls, app = f"`{plan.prefix}lightsheet`", f"`{plan.prefix}app`"
    like = f"load\\_{plan.run_id}\\_%"
    with connect() as conn:

        def counts(sql: str) -> Counter:
            return Counter({(u, r): n for u, r, n in query(conn, sql, (like,))})

        requests_ = counts(
            f"SELECT username, request_name, COUNT(*) FROM {ls}.request WHERE request_name LIKE %s"
            " GROUP BY username, request_name"
        )
        samples = counts(
            f"SELECT username, request_name, COUNT(*) FROM {ls}.request__sample WHERE request_name LIKE %s"
            " GROUP BY username, request_name"
        )
        submitted = counts(
            f"SELECT request_username, request_name, COUNT(*) FROM {app}.event_log WHERE request_name LIKE %s"
            " AND action = 'request.submitted' GROUP BY request_username, request_name"
        )
        confirmations = counts(
            f"SELECT request_username, request_name, COUNT(*) FROM {app}.email_outbox WHERE request_name LIKE %s"
            " AND template = 'request_received' GROUP BY request_username, request_name"
        )
        unsent = query(
            conn,
            f"SELECT request_username, request_name, status, last_error FROM {app}.email_outbox"
            " WHERE request_name LIKE %s AND status <> 'sent'",
            (like,),
        )
        staff = [u.username for u in plan.users if u.role in ("clearing", "imaging")]
        marks = ", ".join(["%s"] * len(staff)) or "NULL"
        actions = ", ".join(f"'{a}'" for a in SAVE_ACTIONS)
        logged = Counter(
            dict(
                query(
                    conn,
                    f"SELECT actor, COUNT(*) FROM {app}.event_log WHERE action IN ({actions})"
                    f" AND actor IN ({marks}) GROUP BY actor",
                    tuple(staff),
                )
            )
        )
        stored = {key: _stored_value(conn, ls, *key) for key in outcome.saves}

    problems: dict[str, list] = {
        "filed_requests_missing": [],
        "filed_requests_duplicated": [],
        "sample_rows_wrong": [],
        "submission_events_wrong": [],
        "confirmation_emails_wrong": [],
        "confirmation_emails_not_sent": [list(r) for r in unsent],
        "requests_not_filed_by_a_user": [],
        "staff_saves_not_reflected": [],
        "save_events_wrong": [],
    }
    filed = {(o, r): n for o, r, n in outcome.filed}
    for key, n in filed.items():
        if requests_[key] == 0:
            problems["filed_requests_missing"].append(key)
        elif requests_[key] > 1:
            problems["filed_requests_duplicated"].append((key, requests_[key]))
        if samples[key] != n:
            problems["sample_rows_wrong"].append((key, n, samples[key]))
        if submitted[key] != 1:
            problems["submission_events_wrong"].append((key, submitted[key]))
        if confirmations[key] != 1:
            problems["confirmation_emails_wrong"].append((key, confirmations[key]))
    refused = set(outcome.failed_filings)
    for key in requests_:
        if key not in filed and key not in refused:
            problems["requests_not_filed_by_a_user"].append(key)
    for key, value in outcome.saves.items():
        if stored[key] != value:
            problems["staff_saves_not_reflected"].append((key, value, stored[key]))
    for user in staff:
        if logged[user] != outcome.saves_by_user[user]:
            problems["save_events_wrong"].append((user, outcome.saves_by_user[user], logged[user]))
    problems["filings_with_an_error_that_still_exist"] = sorted(k for k in refused if requests_[k])
    return problems


def _stored_value(conn, ls: str, path: str, name: str) -> str | None:
    parts = path.strip("/").split("/")
    if parts[0] == "clearing":  # /clearing/batch/<u>/<r>/<n>, field step-<key>-notes or exp_notes
        owner, request_name, number = parts[2], parts[3], int(parts[4])
        if name == "exp_notes":
            sql = f"SELECT exp_notes FROM {ls}.request__clearing_batch WHERE username=%s AND request_name=%s"
            rows = query(conn, sql + " AND clearing_batch_number=%s", (owner, request_name, number))
        else:
            step = name[len("step-") : -len("-notes")]
            sql = f"SELECT step_notes FROM {ls}.request__clearing_step_entry WHERE username=%s AND request_name=%s"
            rows = query(
                conn, sql + " AND clearing_batch_number=%s AND step_key=%s", (owner, request_name, number, step)
            )
    else:  # /imaging/batch/<u>/<r>/<cb>/<ir>/<ib>, field = the sample
        owner, request_name, number = parts[2], parts[3], int(parts[5])
        sql = f"SELECT notes_from_imaging FROM {ls}.request__imaging_request WHERE username=%s AND request_name=%s"
        rows = query(
            conn, sql + " AND sample_name=%s AND imaging_request_number=%s", (owner, request_name, name, number)
        )
    return rows[0][0] if rows else None


def problem_count(problems: dict) -> int:
    return sum(len(v) for v in problems.values())
