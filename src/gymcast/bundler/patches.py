"""Source patches to pinned wheels, each for the exact file it was written for.

numpy 2.0.2 makes `numpy.linalg` and `numpy.fft` lazy attributes, yet imports `numpy.linalg` whenever numpy is
imported: `numpy.matrixlib` and the polynomial functions of `numpy.lib` import from it at module level. With those
imports made at first call, `import numpy` leaves `numpy.linalg` out, and a slim bundle whose game never uses it
neither ships nor loads its extension modules (2.4 MB of WebAssembly that Pyodide would otherwise compile on every
visit). A game that uses it imports it as before (the build's trace sees it), and one that only uses it later gets
it from the full archive (`gymcast_runtime.pruned`). A wheel whose file differs from the one a patch was written for
ships unchanged.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from gymcast.wheels.pins import PinnedFile

PATCH_FORMAT = 1  # bump when the patches change: cached patched wheels then go stale


def _lazy(module: str, names: tuple[str, ...]) -> str:
    """Module-level functions standing for `from module import names`, importing `module` at their first call."""
    lines = [f"def _gymcast_lazy(name):  # gymcast: {module} is imported at first use, not with numpy"]
    lines += [
        "    def call(*args, **kwargs):",
        f"        import {module}",
        f"        return getattr({module}, name)(*args, **kwargs)",
        "    call.__name__ = call.__qualname__ = name",
        "    return call",
        "",
    ]
    lines += [f"{name} = _gymcast_lazy({name!r})" for name in names]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Patch:
    """Replace `old` (found exactly once) with `new` in the wheel's file at `path`."""

    path: str
    old: str
    new: str


#: (distribution, version, the wheel's sha256) -> its patches
PATCHES: dict[tuple[str, str, str], tuple[Patch, ...]] = {
    ("numpy", "2.0.2", "ebb61241d962b98b21597d7ce43b67668a6d5bab3acec4fbe958657320d7cd08"): (
        Patch(
            "numpy/matrixlib/defmatrix.py",
            "from numpy.linalg import matrix_power\n",
            _lazy("numpy.linalg", ("matrix_power",)),
        ),
        Patch(
            "numpy/lib/_polynomial_impl.py",
            "from numpy.linalg import eigvals, lstsq, inv\n",
            _lazy("numpy.linalg", ("eigvals", "lstsq", "inv")),
        ),
    ),
}


def patched_wheel(wheel: Path, pin: PinnedFile, cache_dir: Path) -> Path:
    """`wheel` (the file `pin` names, as the fetcher verified it) with its patches applied, cached; `wheel` itself
    when none applies."""
    patches = PATCHES.get((pin.name, pin.version, pin.sha256))
    if not patches:
        return wheel
    key = hashlib.sha256(json.dumps([PATCH_FORMAT, pin.sha256]).encode()).hexdigest()[:32]
    target = cache_dir / "patched" / key / wheel.name
    if target.is_file():
        return target
    by_path = {patch.path: patch for patch in patches}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(wheel) as original, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as patched:
        for entry in original.infolist():
            data = original.read(entry)
            patch = by_path.get(entry.filename)
            if patch is not None:
                source = data.decode()
                if source.count(patch.old) != 1:
                    raise RuntimeError(f"the patch of {pin.file}'s {patch.path} no longer matches its source")
                data = source.replace(patch.old, patch.new).encode()
            patched.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
    partial.replace(target)
    return target
