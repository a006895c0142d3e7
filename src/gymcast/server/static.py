"""Serves a built bundle: right MIME types, immutable caching for hashed paths, pre-compressed
copies (brotli, gzip) when the browser accepts them, and no traversal."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, request, send_from_directory

from gymcast.bundler.compress import ENCODINGS
from gymcast.bundler.layout import is_hashed_path

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".onnx": "application/octet-stream",
    ".json": "application/json",
    ".html": "text/html",  # werkzeug adds "; charset=utf-8" to text types
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
    encoding = _encoding_for(bundle, path)
    served = path + ENCODINGS[encoding] if encoding else path
    response = send_from_directory(bundle, served, mimetype=MIME_TYPES.get(suffix), conditional=True, max_age=None)
    response.headers["Vary"] = "Accept-Encoding"
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Cache-Control"] = IMMUTABLE if is_hashed_path(path) else "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _encoding_for(bundle: Path, path: str) -> str | None:
    """The best pre-compressed copy of `path` the browser accepts, if the bundle has one and it is enabled."""
    if not current_app.config.get("GYMCAST_PRECOMPRESSED", True) or ".." in path.split("/"):
        return None
    accepted = {part.split(";")[0].strip() for part in request.headers.get("Accept-Encoding", "").split(",")}
    for encoding, suffix in ENCODINGS.items():
        if encoding in accepted and (bundle / (path + suffix)).is_file():
            return encoding
    return None
