"""`/api/v1/`: read-only JSON over requests, samples, pipeline runs and layers (docs/api.md).

Each view parses its query string strictly (lightserv.api.params), calls the same query as the HTML
list with the caller's username and roles (so a token sees exactly what its user sees), and returns one
page with links to the next and previous pages. The personal token page lives in `token_page.py`.
"""

from __future__ import annotations

from flask import abort, jsonify, request

from lightserv.common.permissions import STAFF_ROLES, roles_of
from lightserv.common.status import STATUSES
from lightserv.requests import queries as request_queries
from lightserv.requests.queries import overview as request_overview
from schemas.enums import LAYER_PRODUCT, LAYER_STATUS, RUN_KIND, RUN_STATUS, SPECIES

from . import queries, serialize
from .auth import api_request_route, api_route, api_user
from .blueprint import bp
from .params import REQUEST_NAME_RE, SAMPLE_NAME_RE, USERNAME_RE, Args

REQUEST_FILTERS = ("status", "species", "owner", "q", "testing", "mine")
SAMPLE_FILTERS = ("species", "owner", "q", "testing", "mine")
TARGET_FILTERS = ("owner", "request_name", "sample_name", "status")


@bp.after_request
def _no_store(response):
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _caller() -> tuple[str, frozenset[str]]:
    user = api_user()
    return user.get_id(), roles_of(user)


def _page_response(page, items: list[dict]):
    """The JSON of one page, with absolute links to this, the next and the previous page."""
    args = request.args.to_dict()

    def link(number: int) -> str:
        return serialize.public_url(request.endpoint, **dict(request.view_args or {}, **dict(args, page=number)))

    number = page.request.page
    body = {
        "items": items,
        "page": number,
        "per_page": page.request.per_page,
        "total": page.total,
        "pages": page.pages,
        "sort": page.request.sort,
        "direction": page.request.direction,
        "links": {
            "self": link(number),
            "next": link(number + 1) if page.has_next else None,
            "prev": link(min(number - 1, page.pages)) if number > 1 else None,
        },
    }
    response = jsonify(body)
    if body["links"]["next"]:
        response.headers["Link"] = f'<{body["links"]["next"]}>; rel="next"'
    return response


def _list_filter(args: Args, staff: bool, with_status: bool) -> request_queries.ListFilter:
    """The request/sample list filter with the HTML list's defaults (testing requests: staff see them
    unless `testing=0`; others only with `testing=1`)."""
    return request_queries.ListFilter(
        status=args.choice("status", STATUSES) if with_status else "",
        species=args.choice("species", SPECIES),
        owner=args.matching("owner", USERNAME_RE, "username"),
        search=args.text("q", 100),
        include_testing=args.flag("testing", staff),
        only_mine=staff and args.flag("mine", False),
    )


@bp.route("/api/v1/")
@api_route("request.list")
def index():
    viewer, roles = _caller()
    Args((), paged=False)
    return jsonify(
        user=viewer,
        roles=sorted(roles),
        documentation="docs/api.md in the lightserv repository",
        endpoints={
            "requests": serialize.public_url("api.list_requests"),
            "samples": serialize.public_url("api.list_samples"),
            "runs": serialize.public_url("api.list_runs"),
            "layers": serialize.public_url("api.list_layers"),
        },
    )


@bp.route("/api/v1/requests")
@api_route("request.list")
def list_requests():
    viewer, roles = _caller()
    args = Args(REQUEST_FILTERS)
    flt = _list_filter(args, bool(roles & STAFF_ROLES), with_status=True)
    page_req = args.page_request(request_queries.REQUEST_SORTS, "submitted_at")
    page = request_queries.list_requests(viewer, roles, page_req, flt)
    return _page_response(page, [serialize.request_item(r) for r in page.items])


@bp.route("/api/v1/requests/<username>/<request_name>")
@api_request_route
def get_request(req, relation):
    Args((), paged=False)
    overview = request_overview.get_overview(req["username"], req["request_name"])
    return jsonify(serialize.request_detail(req, relation, overview))


@bp.route("/api/v1/samples")
@api_route("request.list")
def list_samples():
    viewer, roles = _caller()
    args = Args(SAMPLE_FILTERS)
    flt = _list_filter(args, bool(roles & STAFF_ROLES), with_status=False)
    page_req = args.page_request(request_queries.SAMPLE_SORTS, "request_name", "asc")
    page = request_queries.list_samples(viewer, roles, page_req, flt)
    return _page_response(page, [serialize.sample_item(r) for r in page.items])


def _target_filter(args: Args, statuses, kind_name: str, kinds) -> queries.TargetFilter:
    return queries.TargetFilter(
        owner=args.matching("owner", USERNAME_RE, "username"),
        request_name=args.matching("request_name", REQUEST_NAME_RE, "request name"),
        sample_name=args.matching("sample_name", SAMPLE_NAME_RE, "sample name"),
        status=args.choice("status", statuses),
        kind=args.choice(kind_name, kinds),
    )


@bp.route("/api/v1/runs")
@api_route("request.list")
def list_runs():
    viewer, roles = _caller()
    args = Args((*TARGET_FILTERS, "kind"))
    flt = _target_filter(args, RUN_STATUS, "kind", RUN_KIND)
    page_req = args.page_request(queries.RUN_SORTS, "run_id")
    page = queries.list_runs(viewer, roles, flt, page_req)
    return _page_response(page, [serialize.run_item(r) for r in page.items])


@bp.route("/api/v1/runs/<int:run_id>")
@api_route("request.list")
def get_run(run_id: int):
    viewer, roles = _caller()
    Args((), paged=False)
    run = queries.get_run(viewer, roles, run_id)
    if run is None:  # missing, or of a request the caller may not view: the same answer
        abort(404, "No such run.")
    return jsonify(serialize.run_item(run))


@bp.route("/api/v1/layers")
@api_route("request.list")
def list_layers():
    viewer, roles = _caller()
    args = Args((*TARGET_FILTERS, "product"))
    flt = _target_filter(args, LAYER_STATUS, "product", LAYER_PRODUCT)
    page_req = args.page_request(queries.LAYER_SORTS, "created_at")
    page = queries.list_layers(viewer, roles, flt, page_req)
    return _page_response(page, [serialize.layer_item(r) for r in page.items])


from . import token_page  # noqa: E402,F401  (registers the token page on this blueprint)
