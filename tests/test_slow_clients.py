"""Slow clients cannot stall the site: gunicorn started with the project's config (lightserv/gunicorn.conf.py,
2 workers as in `make run`) on the test database, with connections that connect and send nothing, stop half
way through the request line or headers, or announce a form body and send only part of it. While they hang,
/login still answers within 1 s (two such connections used to take both sync workers: /login gave nothing for
6 s); and the server drops every one of them after its client timeout, without answering them anything.
A request that hangs in the app restarts its worker after the config's timeout, as sync workers did.
"""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from tests.support import processes
from tests.support.ports import free_port

CLIENT_TIMEOUT = 3  # WEB_CLIENT_TIMEOUT for this server (the config's default is 20 s)
HELD = [
    b"",  # connected, silent
    b"",
    b"GET /log",  # half a request line
    b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slo",  # half the headers
    # a form whose body never arrives in full (it must not hold the app while it trickles in)
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 200\r\n\r\nusername=slow&pass",
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 200\r\n\r\n",
]


@pytest.fixture
def web(app, settings_overrides, tmp_path):
    env = processes.env_for(settings_overrides)
    env["WEB_CLIENT_TIMEOUT"] = str(CLIENT_TIMEOUT)
    port = free_port()
    proc = processes.gunicorn(env, port, tmp_path)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/login", timeout=60, proc=proc)
        yield port, proc
    finally:
        proc.stop()


def timed_get(port: int, path: str) -> tuple[int, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - start
    finally:
        conn.close()


def test_connections_that_never_finish_neither_stall_the_site_nor_stay_open(web):
    port, proc = web
    held = []
    for data in HELD:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(data)
        held.append(sock)
    time.sleep(0.5)  # the server has taken them all in

    for _ in range(5):
        status, seconds = timed_get(port, "/login")
        assert status == 200
        assert seconds < 1.0, f"/login took {seconds:.2f} s while {len(held)} slow connections were open"

    # each held connection is closed by the server (an empty read), with no answer, after the client timeout
    # (a silent one: the worker's wait for a first byte, then its keep-alive time)
    start = time.monotonic()
    for sock in held:
        sock.settimeout(CLIENT_TIMEOUT + 20)
        try:
            answered = sock.recv(4096)
        except ConnectionResetError:
            answered = b""
        assert answered == b"", f"the server answered a request it never fully got: {answered[:200]!r}"
        sock.close()
    assert time.monotonic() - start < CLIENT_TIMEOUT + 20
    assert timed_get(port, "/login")[0] == 200
    assert proc.popen.poll() is None, proc.log()[-3000:]


def test_a_request_that_hangs_restarts_its_worker_after_the_timeout(app, settings_overrides, tmp_path):
    env = processes.env_for(settings_overrides)
    env["WEB_TIMEOUT"] = "3"
    port = free_port()
    args = processes.gunicorn_args(port, workers=1) + ["tests.support.hung_app:app()"]
    proc = processes.Proc("web", args, env, tmp_path)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/login", timeout=60, proc=proc)
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/test/hang")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()  # the worker ended under it
        assert time.monotonic() - start < 30
        processes.wait_http(f"http://127.0.0.1:{port}/login", timeout=60, proc=proc)  # a new worker answers
        assert "a request ran for more than 3 s: restarting worker" in proc.log()
    finally:
        proc.stop()
