"""The `viewer` area (viewer.md): setup pages, sessions launched in the background through the
viewer-launcher and configurable-http-proxy, persistent links, the admin page of live sessions, and the idle
clean-up and orphan sweep."""
