"""Serves a built bundle: only the files its manifest lists (and their pre-compressed copies), with
the right MIME types, immutable caching for hashed paths, and brotli or gzip when the browser accepts it.

Anything else under the folder (dotfiles, a database, symlinks that lead out of it) is a 404.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, request, send_file

from gymcast.bundle_files import ENCODINGS, is_hashed_path
from gymcast.server.bundle import ServedBundle

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


def served_bundle() -> ServedBundle:
    """The bundle this app serves, as its manifest is now."""
    return current_app.extensions["gymcast.bundle"].current()


@bundle_files.get("/")
def index():
    """The boot page."""
    return bundle_file("index.html")


@bundle_files.get("/<path:path>")
def bundle_file(path: str):
    """One file the manifest lists; 404 for anything else."""
    served = served_bundle()
    target = _inside(served.root, path) if path in served.files else None
    if target is None:
        abort(404)
    encoding = _encoding_for(served.root, path)
    sent = (_inside(served.root, path + ENCODINGS[encoding]) if encoding else None) or target
    response = send_file(
        sent, mimetype=MIME_TYPES.get(Path(path).suffix.lower(), "application/octet-stream"), conditional=True
    )
    response.headers["Vary"] = "Accept-Encoding"
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Cache-Control"] = IMMUTABLE if is_hashed_path(path) else "no-cache"
    return response


def _inside(root: Path, path: str) -> Path | None:
    """`root/path` when it is a regular file whose real location is inside `root` and no part is a dotfile."""
    if any(part.startswith(".") or not part for part in path.split("/")):
        return None
    target = (root / path).resolve()
    return target if target.is_relative_to(root) and target.is_file() else None


def _encoding_for(root: Path, path: str) -> str | None:
    """The best pre-compressed copy of `path` the browser accepts, if the bundle has one and it is enabled."""
    if not current_app.config.get("GYMCAST_PRECOMPRESSED", True):
        return None
    accepted = {part.split(";")[0].strip() for part in request.headers.get("Accept-Encoding", "").split(",")}
    for encoding, suffix in ENCODINGS.items():
        if encoding in accepted and _inside(root, path + suffix):
            return encoding
    return None
