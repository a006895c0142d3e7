"""Health checks for load balancers and orchestrators: `/healthz` (this process is up) and `/readyz`
(its storage and the relay's Redis answer, so it can take participants)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """The process answers HTTP."""
    return jsonify(ok=True)


@health.get("/readyz")
def readyz():
    """The storage (and the relay's Redis, if any) answer; 503 naming what failed otherwise."""
    try:
        current_app.extensions["gymcast.store"].ping()
    except Exception as error:  # any failure of the database means "not ready"
        return jsonify(ok=False, storage=type(error).__name__), 503
    try:
        current_app.extensions["gymcast.relay"].ping()
    except Exception as error:  # Redis away: players could not meet through this process
        return jsonify(ok=False, storage="ok", relay=type(error).__name__), 503
    return jsonify(ok=True, storage="ok")
