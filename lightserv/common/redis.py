"""Redis access: one client per process, for locks, rate limits and heartbeats (never lasting state)."""

from __future__ import annotations

import os

import redis
from flask import current_app

_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_for(url: str) -> redis.Redis:
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)
        _clients[key] = client
    return client


def get_redis() -> redis.Redis:
    return redis_for(current_app.config["SETTINGS"].redis_url)
