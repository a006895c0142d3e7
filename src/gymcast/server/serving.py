"""Runs the host on werkzeug's threaded server, with a `Server` header without versions and an
access log without query strings (they carry participant ids such as PROLIFIC_PID)."""

from __future__ import annotations

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, run_simple


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, minus version numbers and query strings."""

    def version_string(self) -> str:
        return "gymcast"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        full = getattr(self, "path", None)
        if full is None:
            return super().log_request(code, size)
        self.path = full.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path = full


class SilentRequestHandler(QuietRequestHandler):
    """No access log at all (benchmarks)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def serve_app(app: Flask, host: str, port: int, access_log: bool = True) -> None:
    """Serve `app` until interrupted (one thread per request)."""
    run_simple(
        host, port, app, threaded=True, request_handler=QuietRequestHandler if access_log else SilentRequestHandler
    )
