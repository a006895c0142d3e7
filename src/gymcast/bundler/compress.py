"""Pre-compressed copies of bundle files (`.br`, `.gz`) that hosts serve with Content-Encoding."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import brotli

from gymcast.bundle_files import ENCODINGS

COMPRESSIBLE = (".wasm", ".js", ".mjs", ".json", ".html", ".css", ".whl", ".zip", ".onnx")
MIN_SIZE = 1024
MIN_SAVING = 0.10  # keep a compressed copy only when it is at least 10% smaller
#: brotli's strongest setting: slow (about 50 s for pyodide.asm.wasm, once: copies are cached by content),
#: and 0.35 MB (13%) smaller than quality 9 on pyodide.asm.wasm, 10% on pyodide.asm.js
BROTLI_QUALITY = 11


def _compressed(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=BROTLI_QUALITY, lgwin=24)
    return gzip.compress(data, compresslevel=9, mtime=0)


def precompress(bundle: Path, files: dict[str, dict[str, Any]], cache_dir: Path) -> int:
    """Write `<file>.br` and `<file>.gz` next to each compressible file of `files` ({path: {sha256, size}});
    compressed bytes are cached by content hash in `cache_dir`. Returns the bytes saved with brotli."""
    saved = 0
    for path, entry in files.items():
        if not path.endswith(COMPRESSIBLE) or entry["size"] < MIN_SIZE:
            continue
        for encoding, suffix in ENCODINGS.items():
            level = f".q{BROTLI_QUALITY}" if encoding == "br" else ""  # a new quality never meets old copies
            cached = cache_dir / f"{entry['sha256']}{level}{suffix}"
            if not cached.is_file():
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_name(cached.name + ".partial")
                partial.write_bytes(_compressed((bundle / path).read_bytes(), encoding))
                partial.replace(cached)
            size = cached.stat().st_size
            if size <= entry["size"] * (1 - MIN_SAVING):
                shutil.copyfile(cached, bundle / (path + suffix))
                if encoding == "br":
                    saved += entry["size"] - size
    return saved
