"""`--repack` bundles: wheels and the stdlib zip ship stored, hold the same files, and the lock names their hashes;
by default the lock names the slim wheels and the published wheels ship unchanged for the lazy finder."""

from __future__ import annotations

import json
import zipfile

from gymcast.wheels import Fetcher, load_pins
from gymcast.wheels.fetch import file_digest

PINS = load_pins()


def test_every_shipped_archive_is_stored_with_the_published_contents_and_its_own_hash_in_the_lock(tmp_path):
    from conftest import CARTPOLE
    from gymcast.bundler.bundle import build_bundle

    bundle = build_bundle(CARTPOLE, tmp_path / "bundle", repack=True, slim=False).path
    manifest = json.loads((bundle / "manifest.json").read_text())
    lock = json.loads((bundle / manifest["pyodide"]["lock_url"]).read_text())
    index = bundle / manifest["pyodide"]["index_url"]
    for name, entry in lock["packages"].items():
        shipped = (index / entry["file_name"]).resolve()
        assert entry["sha256"] == file_digest(shipped), name
        with zipfile.ZipFile(shipped) as archive:
            assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}, name
    numpy = PINS.wheel("numpy")
    published = Fetcher(PINS).wheel(numpy)
    shipped = (index / lock["packages"]["numpy"]["file_name"]).resolve()
    with zipfile.ZipFile(published) as before, zipfile.ZipFile(shipped) as after:
        assert [(i.filename, i.CRC) for i in before.infolist()] == [(i.filename, i.CRC) for i in after.infolist()]
    assert (shipped.parent / (shipped.name + ".br")).stat().st_size < 0.8 * published.stat().st_size
    with zipfile.ZipFile(index / "python_stdlib.zip") as stdlib:
        assert {info.compress_type for info in stdlib.infolist()} == {zipfile.ZIP_STORED}


def test_by_default_the_lock_names_the_slim_wheel_and_the_published_one_ships_whole(cartpole_bundle):
    manifest = json.loads((cartpole_bundle / "manifest.json").read_text())
    lock = json.loads((cartpole_bundle / manifest["pyodide"]["lock_url"]).read_text())
    numpy = PINS.wheel("numpy")
    assert lock["packages"]["numpy"]["sha256"] != numpy.sha256
    (full,) = [entry["url"] for entry in manifest["pruned"] if entry["url"].endswith("/" + numpy.file)]
    assert file_digest(cartpole_bundle / full) == numpy.sha256
