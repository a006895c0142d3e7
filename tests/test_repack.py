"""`--repack` bundles: wheels and the stdlib zip ship stored, hold the same files, and the lock names their hashes;
by default the lock names the slim wheels and the published wheels ship whole (with the build's source patches,
`gymcast.bundler.patches`) for the lazy finder."""

from __future__ import annotations

import json
import zipfile

from gymcast.bundler.patches import PATCHES, patched_wheel
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
    patched = {patch.path for patch in PATCHES[(numpy.name, numpy.version, numpy.sha256)]}  # numpy.linalg at first use
    with zipfile.ZipFile(published) as before, zipfile.ZipFile(shipped) as after:
        pairs = list(zip(before.infolist(), after.infolist(), strict=True))
        assert all(old.filename == new.filename for old, new in pairs)
        assert {new.filename for old, new in pairs if old.CRC != new.CRC} == patched
    assert (shipped.parent / (shipped.name + ".br")).stat().st_size < 0.8 * published.stat().st_size
    with zipfile.ZipFile(index / "python_stdlib.zip") as stdlib:
        assert {info.compress_type for info in stdlib.infolist()} == {zipfile.ZIP_STORED}


def test_by_default_the_lock_names_the_slim_wheel_and_the_published_one_ships_whole_with_its_patches(cartpole_bundle):
    manifest = json.loads((cartpole_bundle / "manifest.json").read_text())
    lock = json.loads((cartpole_bundle / manifest["pyodide"]["lock_url"]).read_text())
    numpy = PINS.wheel("numpy")
    assert lock["packages"]["numpy"]["sha256"] != numpy.sha256
    (full,) = [entry["url"] for entry in manifest["pruned"] if entry["url"].endswith("/" + numpy.file)]
    fetcher = Fetcher(PINS)
    assert file_digest(cartpole_bundle / full) == file_digest(
        patched_wheel(fetcher.wheel(numpy), numpy, fetcher.cache_dir)
    )
