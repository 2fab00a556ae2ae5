"""The server programs (cloudvolume/server.py, the neuroglancer state) and lib.proxy against the real
configurable-http-proxy: read-only layer files with CORS and byte ranges, never a fabricated volume, the
initial Neuroglancer state, routes added, used (prefix stripped) and removed."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from lib import viewer_access
from tests.conftest import ROOT
from tests.support.launcher import PROXY_TOKEN
from tests.support.ports import free_port

SERVER = ROOT / "cloudvolume" / "server.py"
SESSION, KEY = "cd" * 16, "ef" * 32
ACCESS_ENV = {**os.environ, **viewer_access.server_env(SESSION, KEY)}
# the cookie is made at collection: valid for a week, so a long suite run never outlives it
COOKIE = f"{viewer_access.COOKIE}={viewer_access.cookie_value(KEY, SESSION, int(time.time()) + 7 * 86400)}"


def ngstate():
    """neuroglancer/ngstate.py, loaded from its file (the folder is not a package)."""
    import importlib.util

    if "ngstate" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ngstate", ROOT / "neuroglancer" / "ngstate.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["ngstate"] = module
    return sys.modules["ngstate"]


def request(url: str, method: str = "GET", headers: dict | None = None):
    """An answer of the server, to a browser holding the session's access cookie unless `headers` say otherwise."""
    req = urllib.request.Request(url, method=method, headers={"Cookie": COOKIE, **(headers or {})})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@pytest.fixture(scope="module")
def layer_server(layer_dir, tmp_path_factory):
    extra = layer_dir / "img" / "extra.bin.gz"
    extra.write_bytes(gzip.compress(b"hello"))
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_text("secret")
    link = layer_dir / "img" / "link_out"
    if not link.exists():
        link.symlink_to(outside / "secret")
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SERVER), "--root", str(layer_dir / "img"), "--port", str(port),
                             "--bind", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=ACCESS_ENV)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            request(url + "/info")
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    extra.unlink()
    link.unlink()


def test_the_layer_server_answers_get_head_options_and_ranges_with_cors(layer_server):
    status, body, headers = request(layer_server + "/info")
    assert status == 200 and b'"scales"' in body and headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Type"] == "application/json"
    chunk = "/5000_5000_10000/0-128_0-96_0-1"
    status, body, headers = request(layer_server + chunk)
    assert status == 200 and len(body) == 128 * 96 * 2 and headers["Accept-Ranges"] == "bytes"
    status, body, headers = request(layer_server + chunk, "HEAD")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(128 * 96 * 2)
    status, body, headers = request(layer_server + chunk, headers={"Range": "bytes=10-19"})
    assert status == 206 and len(body) == 10 and headers["Content-Range"] == f"bytes 10-19/{128 * 96 * 2}"
    status, body, _ = request(layer_server + chunk, headers={"Range": "bytes=-4"})
    assert status == 206 and len(body) == 4
    assert request(layer_server + chunk, headers={"Range": "bytes=999999-"})[0] == 416
    status, _, headers = request(layer_server + "/info", "OPTIONS", {"Access-Control-Request-Headers": "range"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in headers["Access-Control-Allow-Methods"] and headers["Access-Control-Allow-Headers"] == "range"
    status, body, headers = request(layer_server + "/extra.bin")
    assert status == 200 and headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == b"hello"


def test_the_layer_server_answers_only_the_sessions_cookie(layer_server):
    chunk = layer_server + "/5000_5000_10000/0-128_0-96_0-1"
    for url in (layer_server + "/info", chunk):
        assert request(url, headers={"Cookie": ""})[0] == 401
        assert request(url, "HEAD", headers={"Cookie": "other=1"})[0] == 401
        for key, session, expires in (("ab" * 32, SESSION, 3600), (KEY, "ab" * 16, 3600), (KEY, SESSION, -5)):
            value = viewer_access.cookie_value(key, session, int(time.time()) + expires)
            assert request(url, headers={"Cookie": f"{viewer_access.COOKIE}={value}"})[0] == 403
        assert request(url, headers={"Cookie": f"a=b; {viewer_access.COOKIE}=junk; {COOKIE}"})[0] == 200


def test_the_layer_server_is_read_only_and_stays_inside_its_folder(layer_server):
    assert request(layer_server + "/../layers0/img2/info")[0] == 403
    assert request(layer_server + "/%2e%2e/img2/info")[0] == 403
    assert request(layer_server + "/link_out")[0] == 404  # a symbolic link out of the layer is not followed
    assert request(layer_server + "/missing")[0] == 404
    for method in ("POST", "PUT", "DELETE"):
        assert request(layer_server + "/info", method)[0] == 405


def test_the_layer_server_exits_when_the_data_is_missing(layer_dir, tmp_path):
    for folder, reason in [(tmp_path / "nothing", "is not a folder"), (layer_dir / "not_a_layer", "is missing"),
                           (layer_dir / "broken", "has no data")]:  # fmt: skip
        result = subprocess.run([sys.executable, str(SERVER), "--root", str(folder), "--port", "0"],
                                capture_output=True, text=True, timeout=60, env=ACCESS_ENV)  # fmt: skip
        assert result.returncode == 2 and reason in result.stderr, result.stderr
    assert not (tmp_path / "nothing").exists()  # nothing fabricated
    # without its session's key it does not start at all
    result = subprocess.run([sys.executable, str(SERVER), "--root", str(layer_dir / "img"), "--port", "0"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "LIGHTSERV_VIEW_SESSION" in result.stderr, result.stderr


LAYERS = [
    {"name": "raw_ch488_left", "type": "image", "source": "precomputed://https://x/cv/s/raw_ch488_left",
     "info": {"voxel_nm": [5000, 5000, 10000], "lower": [0, 0, 0], "upper": [2160, 2560, 1400]}},
    {"name": "raw_ch488_right", "type": "image", "source": "precomputed://https://x/cv/s/raw_ch488_right",
     "info": {"voxel_nm": [5000, 5000, 10000], "lower": [0, 0, 0], "upper": [2160, 2560, 1400]}},
    {"name": "blended_ch647", "type": "image", "source": "precomputed://https://x/cv/s/blended_ch647",
     "info": {"voxel_nm": [5000, 5000, 10000], "lower": [0, 0, 0], "upper": [2160, 2560, 1400]}},
    {"name": "cells_ch647", "type": "annotation", "source": "precomputed://https://x/cv/s/cells_ch647",
     "info": {"voxel_nm": [5000, 5000, 10000], "lower": [0, 0, 0], "upper": [2160, 2560, 1400]}},
]  # fmt: skip


def test_the_neuroglancer_state_has_one_row_of_xy_panels_per_channel_with_gain_and_positions():
    StateError, build_state, state_from_env = ngstate().StateError, ngstate().build_state, ngstate().state_from_env

    layout = [[["raw_ch488_left"], ["raw_ch488_right"]], [["blended_ch647", "cells_ch647"]]]
    state = build_state(LAYERS, layout, gain=60)
    assert state["dimensions"] == {"x": [5e-06, "m"], "y": [5e-06, "m"], "z": [1e-05, "m"]}
    assert state["position"] == [1080, 1280, 700]
    assert state["layout"]["type"] == "column"
    first, second = state["layout"]["children"]
    assert first == {"type": "row", "children": [
        {"type": "viewer", "layers": ["raw_ch488_left"], "layout": "xy"},
        {"type": "viewer", "layers": ["raw_ch488_right"], "layout": "xy"}]}  # fmt: skip
    assert second == {"type": "viewer", "layers": ["blended_ch647", "cells_ch647"], "layout": "xy"}
    image = state["layers"][0]
    assert image["type"] == "image" and image["shaderControls"] == {"gain": 60}
    assert "toNormalized(getDataValue()) * gain" in image["shader"] and "default=60" in image["shader"]
    assert state["layers"][3]["type"] == "annotation" and state["layers"][3]["source"].endswith("/cells_ch647")
    assert state["crossSectionScale"] > 1  # a 2160 x 2560 plane fits its panels
    with pytest.raises(StateError, match="unknown layer"):
        build_state(LAYERS, [["nope"]])
    import json

    env = {"NG_LAYERS": json.dumps(LAYERS), "NG_LAYOUT": json.dumps([["raw_ch488_left"]]), "NG_GAIN": "45"}
    assert state_from_env(env)["layout"] == {"type": "viewer", "layers": ["raw_ch488_left"], "layout": "xy"}


def test_the_atlas_overlay_is_semi_transparent_and_the_registration_variant_opens_its_region_list():
    build_state = ngstate().build_state

    layers = [
        {"name": "registered_ch488_regch", "type": "image", "source": "precomputed://https://x/cv/s/r",
         "info": {"voxel_nm": [25000, 25000, 25000], "lower": [0, 0, 0], "upper": [456, 528, 320]}},
        {"name": "atlas_allen_2017", "type": "segmentation", "source": "precomputed://https://x/cv/s/a",
         "info": {"voxel_nm": [25000, 25000, 25000], "lower": [0, 0, 0], "upper": [456, 528, 320]}},
    ]  # fmt: skip
    state = build_state(layers, [[["registered_ch488_regch", "atlas_allen_2017"]]], variant="registration")
    atlas = state["layers"][1]
    assert atlas["type"] == "segmentation" and 0 < atlas["selectedAlpha"] < 1
    assert state["selectedLayer"] == {"layer": "atlas_allen_2017", "visible": False}
    assert state["layout"]["layers"] == ["registered_ch488_regch", "atlas_allen_2017"]


def test_panel_layouts_follow_the_products_of_each_space():
    from lightserv.viewer.groups import ResolvedLayer, layout

    def img(name, product, channel, sheet="none", overlay=False):
        return ResolvedLayer(name, "image", "/x", product, channel, sheet, overlay)

    full = [img("blended_ch488", "blended", "488"), img("raw_ch488_right", "raw", "488", "right"),
            img("raw_ch488_left", "raw", "488", "left"), img("raw_ch647_left", "raw", "647", "left"),
            ResolvedLayer("cells_ch647", "annotation", "/x", "cells", "647")]  # fmt: skip
    assert layout(full, "full") == [
        [["raw_ch488_left"], ["raw_ch488_right"], ["blended_ch488"]],
        [["raw_ch647_left", "cells_ch647"]],
    ]
    down = [img("downsized_ch647", "downsized", "647"), img("downsized_ch488", "downsized", "488")]
    assert layout(down, "downsized") == [[["downsized_ch488"], ["downsized_ch647"]]]
    atlas = [img("registered_ch488_regch", "registered", "488", overlay=True),
             img("registered_ch647_cellch", "registered", "647"),
             ResolvedLayer("cells_registered_ch647", "annotation", "/x", "cells_registered", "647"),
             ResolvedLayer("atlas_allen_2017", "segmentation", "/x", "atlas")]  # fmt: skip
    assert layout(atlas, "atlas") == [[
        ["registered_ch488_regch", "atlas_allen_2017"],
        ["registered_ch647_cellch", "cells_registered_ch647"],
    ]]  # fmt: skip
    assert layout([atlas[-1]], "atlas") == [[["atlas_allen_2017"]]]


def test_proxy_routes_are_added_used_without_their_prefix_listed_and_removed(chp, layer_server):
    from lib.proxy import ProxyClient, ProxyError

    client = chp.client()
    path = "/cv/" + "ab" * 16 + "/raw_ch488_left"
    client.add_route(path, layer_server)
    status, body, headers = request(chp.public_url + path + "/info")
    assert status == 200 and b'"scales"' in body  # the prefix was stripped on the way
    routes = client.routes()
    assert routes[path].target == layer_server and routes[path].last_activity is not None
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=1)
    assert path in client.routes(inactive_since=later)
    assert path not in client.routes(inactive_since=later - dt.timedelta(hours=1))
    with pytest.raises(ProxyError, match="HTTP 403"):
        ProxyClient(chp.api_url, "wrong" + PROXY_TOKEN).routes()
    assert client.delete_route(path) is True
    assert client.delete_route(path) is False  # already gone: not an error
    assert request(chp.public_url + path + "/info")[0] == 404
