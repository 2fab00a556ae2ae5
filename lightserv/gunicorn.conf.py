"""gunicorn settings of the web app, the one file every way of starting it uses: `make run` (Procfile.dev),
the image (flaskcelery.Dockerfile), the test stacks and the load test. Each command adds only `--bind`.

    gunicorn -c lightserv/gunicorn.conf.py --bind 127.0.0.1:5000

Slow clients cannot stall the site:
- threaded workers (`gthread`): a connection whose request has not fully arrived occupies one thread of a
  worker, not the worker; the app code still runs one request at a time per process (one DataJoint
  connection each, lightserv/common/threads.py), so threads are cheap waiting places for clients;
- a read and write timeout on every client connection (`WEB_CLIENT_TIMEOUT` seconds without a byte, like
  nginx's client_header_timeout and send_timeout): a client that stops sending or reading is dropped;
- in production nginx buffers whole requests and answers in front of gunicorn (docker-compose-prod.yml).

A request that runs longer than `timeout` seconds restarts its worker, as gunicorn's sync workers did (a
threaded worker's main loop keeps answering gunicorn's heartbeat while a request hangs, so a watchdog thread
does it).

Environment: WEB_WORKERS (default 2), WEB_THREADS (default 8), WEB_TIMEOUT (default 60), WEB_CLIENT_TIMEOUT
(default 20).
"""

import os
import socket
import struct
import threading
import time

wsgi_app = "run:app"
# threads share the process's one DataJoint connection: app contexts run one at a time (common/threads.py)
os.environ["LIGHTSERV_SERIAL_APP_CONTEXTS"] = "1"
bind = "127.0.0.1:" + os.environ.get("PORT", "5000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
client_timeout = int(os.environ.get("WEB_CLIENT_TIMEOUT", "20"))


def when_ready(server):
    """Give the listening sockets a receive and send timeout; the connections they accept inherit it, so a
    worker thread blocked on a silent client gets an error after `client_timeout` seconds and drops it."""
    timeval = struct.pack("ll", client_timeout, 0)
    for listener in server.LISTENERS:
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    server.log.info("client connections time out after %d s without data", client_timeout)


def post_worker_init(worker):
    """Start the worker's watchdog: a request running longer than `timeout` ends the worker (gunicorn starts a
    new one), so a hung request cannot keep a worker, and every request queued behind it, forever."""
    from lightserv.common.threads import busy_seconds

    limit = worker.cfg.timeout

    def watch():
        while True:
            time.sleep(1)
            if busy_seconds() > limit:
                worker.log.critical("a request ran for more than %d s: restarting worker %s", limit, worker.pid)
                os._exit(1)

    threading.Thread(target=watch, name="lightserv-request-watchdog", daemon=True).start()
