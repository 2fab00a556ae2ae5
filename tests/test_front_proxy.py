"""The production front proxy's configuration (nginx/lightserv.conf) on Debian's nginx, in front of gunicorn with
the project's config, as docker-compose-prod.yml runs them: answers pass through with the app's status and
headers; more connections that never finish a request, or never finish its body, than gunicorn has threads
wait in nginx while the site answers within 1 s; a body over the app's limit is refused by nginx, not gunicorn.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support import processes
from tests.support.ports import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HELD = 40  # far more than gunicorn's 2 workers x 8 threads


def nginx_config(folder: Path, port: int, web_port: int) -> Path:
    """nginx.conf for this test: the project's server block, listening on `port` and passing to gunicorn on
    `web_port` instead of the compose service `web`, with its pid, logs and buffers in `folder`."""
    server = (ROOT / "nginx" / "lightserv.conf").read_text()
    assert "listen 8080;" in server and "http://web:5000" in server
    server = server.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    server = server.replace("http://web:5000", f"http://127.0.0.1:{web_port}")
    (folder / "lightserv.conf").write_text(server)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in kinds)
    config = folder / "nginx.conf"
    config.write_text(
        f"daemon off; user root; worker_processes 1; pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        f"events {{}}\nhttp {{ access_log {folder / 'access.log'}; {temp} include {folder / 'lightserv.conf'}; }}\n"
    )
    return config


@pytest.fixture
def front(app, settings_overrides, tmp_path):
    if not Path(NGINX).exists():
        pytest.skip("nginx (Debian package nginx-light) is not installed")
    web_port, port = free_port(), free_port()
    web = processes.gunicorn(processes.env_for(settings_overrides), web_port, tmp_path / "web")
    config = nginx_config(tmp_path, port, web_port)
    argv = [NGINX, "-e", str(tmp_path / "error.log"), "-c", str(config)]
    test = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    nginx = processes.Proc("nginx", argv, {}, tmp_path / "nginx")
    try:
        processes.wait_http(f"http://127.0.0.1:{web_port}/login", timeout=60, proc=web)
        processes.wait_http(f"http://127.0.0.1:{port}/_front_healthz", timeout=30, proc=nginx)
        yield port, web
    finally:
        nginx.stop()
        web.stop()


def get(port: int, path: str, headers: dict | None = None) -> tuple[http.client.HTTPResponse, bytes, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response, response.read(), time.monotonic() - start
    finally:
        conn.close()


def test_answers_pass_through_with_the_apps_status_and_headers(front):
    port, _ = front
    response, body, _ = get(port, "/login", {"Host": "lightserv.lab.example.org"})
    assert response.status == 200 and b'name="csrf_token"' in body
    assert "frame-ancestors 'none'" in response.getheader("Content-Security-Policy", "")
    assert response.getheader("X-Frame-Options") == "DENY"
    assert get(port, "/no/such/page")[0].status == 404
    assert get(port, "/static/lightserv.js")[0].getheader("X-Content-Type-Options") == "nosniff"


def test_slow_clients_wait_in_nginx_while_the_site_answers(front):
    port, _ = front
    held = []
    for i in range(HELD):
        sock = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slo")
        else:
            sock.sendall(
                b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 500\r\n\r\nusername=slow"
            )
        held.append(sock)
    try:
        time.sleep(0.5)
        for _ in range(5):
            response, _, seconds = get(port, "/login")
            assert response.status == 200
            assert seconds < 1.0, f"/login took {seconds:.2f} s through nginx with {HELD} slow connections open"
    finally:
        for sock in held:
            sock.close()


def test_a_body_over_the_apps_limit_is_refused_by_nginx(front):
    port, web = front
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", "/login")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(17 * 1024 * 1024))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert "POST /login" not in web.log()
