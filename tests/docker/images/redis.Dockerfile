# Test-only stand-in for the official redis image (no registry is reachable in the Docker tier): Debian's
# Redis 7.0, listening on the stack's network as the official image does.
ARG BASE_IMAGE=lightserv-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
# the compose file's command starts with redis-server; these flags make it reachable from the other services
ENTRYPOINT ["sh", "-c", "exec \"$@\" --bind 0.0.0.0 --protected-mode no", "redis"]
CMD ["redis-server"]
