"""Source patches to pinned wheels (`gymcast.bundler.patches`): applied to the exact wheel they were written for."""

from __future__ import annotations

import dataclasses
import zipfile

from gymcast.bundler.patches import patched_wheel
from gymcast.wheels import Fetcher, load_pins


def _numpy():
    pins = load_pins()
    fetcher = Fetcher(pins)
    (pin,) = [pin for pin in pins.wheels if pin.name == "numpy"]
    return pin, fetcher.wheel(pin), fetcher.cache_dir


def test_numpy_imports_linalg_at_first_use_and_its_other_files_are_unchanged(cartpole_bundle):
    pin, wheel, cache_dir = _numpy()
    patched = patched_wheel(wheel, pin, cache_dir)
    assert patched != wheel
    with zipfile.ZipFile(wheel) as original, zipfile.ZipFile(patched) as copy:
        assert original.namelist() == copy.namelist()
        changed = [name for name in original.namelist() if original.read(name) != copy.read(name)]
        assert sorted(changed) == ["numpy/lib/_polynomial_impl.py", "numpy/matrixlib/defmatrix.py"]
        source = copy.read("numpy/matrixlib/defmatrix.py").decode()
    assert "\nfrom numpy.linalg import matrix_power\n" not in source and "matrix_power = _gymcast_lazy(" in source
    compile(source, "defmatrix.py", "exec")
    assert patched_wheel(wheel, pin, cache_dir) == patched  # cached


def test_a_wheel_other_than_the_one_patched_ships_unchanged(cartpole_bundle):
    pin, wheel, cache_dir = _numpy()
    other = dataclasses.replace(pin, sha256="0" * 64)
    assert patched_wheel(wheel, other, cache_dir) == wheel
