"""`gymcast serve` on gunicorn: N worker processes with a thread per connection (gthread workers).

Why gthread: the relay's websockets are read and written by one epoll loop thread per process
(relay/socket_loop.py) on the requests' raw sockets (`gunicorn.socket`), while each request's own thread
does the handshake and the join, then waits for its connection to close; gevent would have to monkey-patch
all of it. gthread keeps HTTP/1.1 keep-alive (werkzeug's development server closes every connection), runs
each worker's app in its own process (its own storage connections), restarts workers that die, and shuts
down gracefully: on SIGTERM it stops accepting, tells relay clients to reconnect elsewhere (close 1012),
and lets in-flight log batches finish.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

import gunicorn
import gunicorn.http.wsgi
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

#: One JSON object a line; `U` is the path without the query string (it carries participant ids such as
#: PROLIFIC_PID), and `request` repeats method, path and protocol the way werkzeug's log did.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "time": "%(t)s",
        "remote": "%(h)s",
        "request": "%(m)s %(U)s %(H)s",
        "status": "%(s)s",
        "bytes": "%(B)s",
        "ms": "%(M)s",
        "pid": "%(p)s",
    }
)
GRACEFUL_TIMEOUT_S = 20


class StderrAccessLogger(Logger):
    """gunicorn's logger with the access log on stderr beside the error log (as werkzeug's was), not stdout."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if cfg.accesslog is not None:
            self._set_handler(self.access_log, cfg.accesslog, logging.Formatter("%(message)s"), stream=sys.stderr)


class GymcastServer(BaseApplication):
    """gunicorn running the app that `make_app` builds in each worker process."""

    def __init__(self, make_app: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.make_app = make_app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.make_app()


def _post_worker_init(worker: Any) -> None:
    """On SIGTERM, first ask the relay's browsers to reconnect (they rejoin on another process), then let
    gunicorn finish the in-flight requests."""
    graceful = signal.getsignal(signal.SIGTERM)
    app = worker.wsgi

    def shutdown(signum: int, frame: Any) -> None:
        relay = getattr(app, "extensions", {}).get("gymcast.relay")
        if relay is not None:
            relay.close_all()
        if callable(graceful):
            graceful(signum, frame)

    signal.signal(signal.SIGTERM, shutdown)


def serve_production(
    make_app: Callable[[], Flask], host: str, port: int, workers: int, threads: int, access_log: bool = True
) -> None:
    """Serve until SIGTERM or Ctrl+C; each worker builds its own app (its own database connections)."""
    gunicorn.SERVER = gunicorn.http.wsgi.SERVER = "gymcast"  # a Server header without a version  # type: ignore[attr-defined]
    GymcastServer(
        make_app,
        {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "worker_connections": max(1000, threads * 2),
            "keepalive": 15,
            "graceful_timeout": GRACEFUL_TIMEOUT_S,
            "timeout": 60,
            "accesslog": "-" if access_log else None,
            "logger_class": StderrAccessLogger,
            "errorlog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "post_worker_init": _post_worker_init,
            "proc_name": "gymcast",
            "control_socket_disable": True,  # several hosts on one machine would share its one path
        },
    ).run()
