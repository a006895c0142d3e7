"""The gymcast host: a Flask app that serves a bundle and stores its logs. It never steps an env."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from gymcast.server.admin import admin
from gymcast.server.bundle import BundleReader
from gymcast.server.guard import guard_api
from gymcast.server.headers import add_security_headers
from gymcast.server.health import health
from gymcast.server.limits import Buckets, Limits, MemoryBuckets
from gymcast.server.logs import api_error, logs
from gymcast.server.schema import MAX_BODY_BYTES
from gymcast.server.static import bundle_files
from gymcast.storage import EventStore


def create_app(
    bundle: Path,
    store: EventStore,
    cors_origins: list[str] | None = None,
    precompressed: bool = True,
    limits: Limits | None = Limits(),  # noqa: B008 (frozen)
    redis_url: str | None = None,
    proxies: int = 0,
) -> Flask:
    """A host for the bundle folder `bundle`, logging into `store`.

    `cors_origins` lets pages served elsewhere (a static host) log here: their origins, or ["*"].
    `precompressed=False` serves every file uncompressed (a baseline for benchmarks).
    `limits=None` turns rate limits and quotas off (load tests only).
    `redis_url` shares the relay's waiting rooms and groups, and the rate limits, with the other processes and
    hosts using that Redis.
    `proxies` is how many proxies in front of the host set X-Forwarded-For/-Proto/-Host/-Port: the participant's
    address (for rate limits), scheme and host are then read from their last `proxies` entries (werkzeug's ProxyFix).
    """
    app = Flask("gymcast", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if proxies:
        # Flask's documented way to add WSGI middleware
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.config["GYMCAST_PRECOMPRESSED"] = precompressed
    reader = BundleReader(bundle)
    app.extensions["gymcast.bundle"] = reader
    app.extensions["gymcast.store"] = store
    app.extensions["gymcast.limits"] = limits or Limits()
    if limits is not None:
        app.extensions["gymcast.buckets"] = _buckets(redis_url)
    store.host_secret()  # create the signing secret now, not under the first request's load
    store.admin_token()  # and the dashboard's admin token (`gymcast admin-token` prints it)
    if cors_origins:
        from flask_cors import CORS

        CORS(app, resources={r"/api/*": {"origins": cors_origins}}, allow_headers=["Content-Type", "Authorization"])
    from gymcast.relay import RelayService, relay_socket

    app.extensions["gymcast.relay"] = RelayService(reader.current().relay, store, redis_url)
    guard_api(app)
    add_security_headers(app)
    app.register_blueprint(health)
    app.register_blueprint(logs)
    app.register_blueprint(relay_socket)
    app.register_blueprint(admin)
    app.register_blueprint(bundle_files)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith(("/api/", "/admin/api/")):
            return api_error(error.code or 500, error.description or error.name)
        return error

    return app


def _buckets(redis_url: str | None) -> Buckets:
    """Where the rate limits count: in the shared Redis when there is one, else in this process."""
    if not redis_url:
        return MemoryBuckets()
    from gymcast.server.shared_limits import RedisBuckets

    return RedisBuckets(redis_url)
