"""The pinned-wheel fetcher: sha256 verification of every source, and builds without network."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CARTPOLE, environment_with, gymcast_command, seeded_cache
from gymcast.wheels import Fetcher, FetchError, IntegrityError, load_pins

PINS = load_pins()
NUMPY = PINS.wheel("numpy")


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_build_fails_on_a_tampered_cached_wheel_naming_file_and_both_hashes(cartpole_bundle, tmp_path):
    cache = seeded_cache(tmp_path / "cache")
    cached = cache / "files" / NUMPY.sha256 / NUMPY.file
    tamper(cached)
    result = subprocess.run(
        gymcast_command("build", str(CARTPOLE), "-o", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        env=environment_with(GYMCAST_CACHE=str(cache), COLUMNS="400"),
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    actual = __import__("hashlib").sha256(cached.read_bytes()).hexdigest()
    assert NUMPY.file in message
    assert NUMPY.sha256 in message and actual in message
    assert not (tmp_path / "out").exists()


def test_a_tampered_wheelhouse_file_is_an_error_not_a_fallback(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    shutil.copyfile(Fetcher(PINS).wheel(NUMPY), wheelhouse / NUMPY.file)
    tamper(wheelhouse / NUMPY.file)
    fetcher = Fetcher(PINS, cache_dir=tmp_path / "empty-cache", wheelhouse=wheelhouse)
    with pytest.raises(IntegrityError) as caught:
        fetcher.wheel(NUMPY)
    assert caught.value.expected == NUMPY.sha256
    assert caught.value.actual != NUMPY.sha256
    assert str(wheelhouse) in str(caught.value)
    assert not (tmp_path / "empty-cache" / "files" / NUMPY.sha256).exists()


def test_a_clean_wheelhouse_fills_an_empty_cache_without_network(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    shutil.copyfile(Fetcher(PINS).wheel(NUMPY), wheelhouse / NUMPY.file)
    path = Fetcher(PINS, cache_dir=tmp_path / "cache", wheelhouse=wheelhouse).wheel(NUMPY)
    assert path == tmp_path / "cache" / "files" / NUMPY.sha256 / NUMPY.file


def test_a_missing_wheelhouse_is_reported():
    with pytest.raises(FetchError, match="is not a folder"):
        Fetcher(PINS, wheelhouse=Path("/nonexistent-wheelhouse"))


def test_the_official_lock_agrees_with_every_pinned_pyodide_build(cartpole_bundle):
    import json

    official = json.loads((Fetcher(PINS).npm_package(PINS.pyodide) / "pyodide-lock.json").read_text())
    assert official["info"]["version"] == PINS.pyodide.version
    for pin in PINS.wheels:
        if pin.origin == "pyodide":
            assert official["packages"][pin.name]["sha256"] == pin.sha256, pin.name


def test_a_second_build_works_with_no_network(cartpole_bundle, tmp_path):
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n (a network namespace) is not permitted on this machine")
    result = subprocess.run(
        ["unshare", "-n", *gymcast_command("build", str(CARTPOLE), "-o", str(tmp_path / "offline"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "offline" / "manifest.json").is_file()
