"""Security headers on every response: a strict Content-Security-Policy, no referrer, no framing,
no MIME sniffing, and `no-store` on the API."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from gymcast.server.static import served_bundle


def content_security_policy(host: str, log_url: str) -> str:
    """The page's CSP: everything from this origin (and the log host), wasm allowed, no inline script or eval.

    Workers and the service worker load from this origin; Phaser draws textures from blob: and
    data: images; the relay is a WebSocket to this host.
    """
    connect = ["'self'", f"ws://{host}", f"wss://{host}"]
    if log_url:
        parts = urlsplit(log_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        connect += [origin, origin.replace("http", "ws", 1)]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self' blob:",
            "img-src 'self' data: blob:",
            "style-src 'self' 'unsafe-inline'",
            "connect-src " + " ".join(connect),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def add_security_headers(app: Flask) -> None:
    """Register the headers on `app`."""

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # the dashboard's forms need same-origin
        response.headers["Content-Security-Policy"] = content_security_policy(request.host, served_bundle().log_url)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response
