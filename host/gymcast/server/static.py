"""Serves a built bundle: right MIME types, immutable caching for hashed paths, no traversal."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory

from gymcast.build.layout import is_hashed_path

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".onnx": "application/octet-stream",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
}
IMMUTABLE = "public, max-age=31536000, immutable"

bundle_files = Blueprint("bundle_files", __name__)


@bundle_files.get("/")
def index():
    """The boot page."""
    return bundle_file("index.html")


@bundle_files.get("/<path:path>")
def bundle_file(path: str):
    """One bundle file. `send_from_directory` refuses paths that leave the bundle (404)."""
    bundle: Path = current_app.extensions["gymcast.bundle"]
    suffix = Path(path).suffix.lower()
    response = send_from_directory(bundle, path, mimetype=MIME_TYPES.get(suffix), conditional=True, max_age=None)
    response.headers["Cache-Control"] = IMMUTABLE if is_hashed_path(path) else "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
