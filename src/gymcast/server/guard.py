"""What every API request passes before it is handled: JSON only, a size cap (413), and rate limits (429)."""

from __future__ import annotations

import math

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from gymcast.server.limits import Buckets, Limits, Rate
from gymcast.server.schema import MAX_BODY_BYTES


def too_many(what: str, wait_s: float) -> tuple[Response, int, dict[str, str]]:
    """A 429 that says which limit was hit and when to retry."""
    from gymcast.server.logs import api_error

    response, status = api_error(429, f"too many {what}; retry in {math.ceil(wait_s)} s")
    return response, status, {"Retry-After": str(max(1, math.ceil(wait_s)))}


def charge(key: str, cost: float, rate: Rate, what: str) -> tuple[Response, int, dict[str, str]] | None:
    """Take `cost` from bucket `key`; the 429 reply when it is empty, else None (no limits: always None)."""
    buckets: Buckets | None = current_app.extensions.get("gymcast.buckets")
    if buckets is None:
        return None
    wait = buckets.take(key, cost, rate)
    return too_many(what, wait) if wait else None


def limits() -> Limits:
    """The app's limits."""
    return current_app.extensions["gymcast.limits"]


def guard_api(app: Flask) -> None:
    """Register the checks on `app` for every /api/ POST."""

    @app.before_request
    def check():
        if not request.path.startswith("/api/"):
            return None
        from gymcast.server.logs import api_error

        ip = request.remote_addr or "?"
        limited = charge(f"ip:{ip}", 1, limits().requests_per_ip, "requests from this address")
        if limited or request.method != "POST":
            return limited
        if request.mimetype != "application/json":
            return api_error(415, "send the body as JSON with Content-Type: application/json")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return api_error(413, f"the body is over {MAX_BODY_BYTES} bytes; send smaller batches")
        try:  # a chunked body has no length to check first: read up to the cap, then one byte more
            body = request.stream.read(MAX_BODY_BYTES)
            over = len(body) == MAX_BODY_BYTES and bool(request.stream.read(1))
        except RequestEntityTooLarge:
            over = True
        if over:
            return api_error(413, f"the body is over {MAX_BODY_BYTES} bytes; send smaller batches")
        request._cached_data = body  # what get_data() returns from now on
        limited = charge(f"ip-bytes:{ip}", len(body), limits().bytes_per_ip, "bytes from this address")
        if limited or request.path != "/api/v1/sessions":
            return limited
        return charge(f"ip-sessions:{ip}", 1, limits().sessions_per_ip, "new sessions from this address")
