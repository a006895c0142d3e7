"""Writes pure-Python wheels deterministically: same sources, same bytes, same hash."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def collect_python_sources(folder: Path, exclude: frozenset[str] = frozenset()) -> dict[str, Path]:
    """Every `.py` file under `folder` as `{archive name: path}`, skipping caches, hidden folders and `exclude`."""
    sources: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder)
        if any(part.startswith((".", "__pycache__")) for part in relative.parts[:-1]):
            continue
        if relative.as_posix() in exclude:
            continue
        sources[relative.as_posix()] = path
    return sources


def write_wheel(distribution: str, version: str, sources: dict[str, Path], out_dir: Path) -> Path:
    """Pack `sources` ({archive name: file}) as `{distribution}-{version}-py3-none-any.whl` in `out_dir`."""
    name = distribution.replace("-", "_")
    dist_info = f"{name}-{version}.dist-info"
    files = {arcname: path.read_bytes() for arcname, path in sorted(sources.items())}
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n".encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: gymcast\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{arcname},sha256={_record_digest(data)},{len(data)}" for arcname, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join(record + [f"{dist_info}/RECORD,,"]) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in files.items():
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return target


def _record_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
