"""configurable-http-proxy: a client of its REST API and a way to run it.

The proxy (npm `configurable-http-proxy`, pinned in `lib/proxy/node/package.json`, installed into
`var/node/` by `scripts/provision-test.sh` and `make run`) listens on a public port and an API port; every
API call needs `Authorization: token <CONFIGPROXY_AUTH_TOKEN>`. It is started with `--no-include-prefix`, so
`/cv/<session>/<layer>/info` reaches the layer server as `/info`. Its per-route `last_activity` drives idle
clean-up.

No Flask or Celery here.
"""

from .client import ProxyClient, ProxyError, Route
from .server import ProxyProcess, ProxyUnavailable, find_proxy_binary, start_proxy

__all__ = ["ProxyClient", "ProxyError", "ProxyProcess", "ProxyUnavailable", "Route", "find_proxy_binary", "start_proxy"]
