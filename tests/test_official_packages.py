"""Requirements that name a package of Pyodide's own distribution ship its official build and dependencies;
other requirements get errors that name the problem and a fix that works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scipy import special

from conftest import open_player, wait_for
from gymcast.bundler.bundle import build_bundle, build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.testing import HostProcess
from gymcast.wheels import FetchError
from gymcast.wheels.official import OfficialDistribution, Requirement, official_dependencies

EXPERIMENT = Path(__file__).parent / "fixtures" / "experiments" / "official_packages"


@pytest.fixture(scope="module")
def scipy_bundle(tmp_path_factory) -> Path:
    return build_bundle(EXPERIMENT, tmp_path_factory.mktemp("official") / "bundle").path


def official_lock(bundle: Path) -> dict:
    """The official lock of the Pyodide the bundle was built with (from the fetch cache)."""
    from gymcast.wheels import Fetcher, load_pins

    pins = load_pins()
    return json.loads((Fetcher(pins).npm_package(pins.pyodide) / "pyodide-lock.json").read_text())


def with_requirements(tmp_path: Path, *specs: str):
    loaded = load_experiment(EXPERIMENT)
    loaded.experiment.requirements(*specs)
    return lambda: build_loaded(loaded, tmp_path / "bundle")


def test_a_named_official_package_ships_with_the_dependencies_its_lock_lists(scipy_bundle):
    manifest = json.loads((scipy_bundle / "manifest.json").read_text())
    assert {"scipy", "openblas", "numpy"} <= set(manifest["packages"])
    lock_path = next(p for p in manifest["files"] if p.endswith("pyodide-lock.json"))
    bundle_lock = json.loads((scipy_bundle / lock_path).read_text())["packages"]
    official = official_lock(scipy_bundle)["packages"]
    assert bundle_lock["scipy"]["version"] == official["scipy"]["version"] == "1.14.1"
    assert bundle_lock["openblas"]["sha256"] == official["openblas"]["sha256"]  # shared libraries ship whole
    shipped = {p.rsplit("/", 1)[-1] for p in manifest["files"]}
    assert "openblas-0.3.26.zip" in shipped and official["scipy"]["file_name"] in shipped


def test_an_official_package_pinned_to_another_version_names_the_one_available(tmp_path):
    with pytest.raises(FetchError, match=r'scipy 1\.14\.1 only\. Fix: write "scipy==1\.14\.1"'):
        with_requirements(tmp_path, "scipy==1.0.0")()


def test_pygame_names_the_distribution_s_pygame_ce():
    distribution = OfficialDistribution(_lock_path())
    assert distribution.key("pygame") == "pygame-ce" and distribution.key("PyGame-CE") == "pygame-ce"
    (pin,) = distribution.resolve([Requirement.parse("pygame")], shipped=set())
    assert pin.file == "pygame_ce-2.4.1-cp312-cp312-pyodide_2024_0_wasm32.whl" and pin.origin == "pyodide"


def test_official_packages_that_a_pypi_requirement_needs_ship_with_it(tmp_path):
    distribution = OfficialDistribution(_lock_path())
    wheel = _wheel_requiring(tmp_path, ["pyyaml>=6", "numpy", "pywin32; sys_platform == 'win32'"])
    needed = official_dependencies([wheel], distribution, shipped={"numpy"})
    assert needed == [Requirement("pyyaml", None)]


def test_a_compiled_package_outside_the_distribution_names_pyodide_build(tmp_path):
    with pytest.raises(FetchError, match=r"psutil==6\.1\.0 has no pure-Python wheel.*pyodide build"):
        with_requirements(tmp_path, "psutil==6.1.0")()


def test_a_package_that_does_not_exist_is_not_reported_as_a_network_problem(tmp_path):
    with pytest.raises(FetchError) as failure:
        with_requirements(tmp_path, "gymcast-no-such-package-zq==1.0")()
    assert "no such package on PyPI" in str(failure.value) and "network" not in str(failure.value)


def test_a_pypi_version_that_does_not_exist_lists_the_ones_that_do(tmp_path):
    with pytest.raises(FetchError, match=r"PyPI has no pettingzoo 0\.0\.0; it has: .*1\.25\.0"):
        with_requirements(tmp_path, "pettingzoo==0.0.0")()


def test_a_pypi_package_without_a_version_asks_for_one(tmp_path):
    with pytest.raises(
        FetchError, match=r'pettingzoo.*has no version.*Fix: pin the PyPI release, e\.g\. "pettingzoo=='
    ):
        with_requirements(tmp_path, "pettingzoo")()


def test_the_official_scipy_runs_in_the_browser(browser, scipy_bundle, tmp_path):
    with HostProcess(scipy_bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "scipy")
        page.click("#start")
        wait_for(page, "s.phase === 'done' && s.pending_events === 0")
        page.context.close()
    from gymcast.storage import SQLiteEventStore

    steps = [e for e in SQLiteEventStore(tmp_path / "logs.sqlite").iter_events() if e.type == "step"]
    assert len(steps) == 20
    x = 0.0
    for event in steps:
        x += 0.1 if event.data["actions"]["player"] == 1 else 0.05
        assert event.data["rewards"]["player"] == pytest.approx(float(special.erf(x)), abs=1e-12)


def _lock_path() -> Path:
    from gymcast.wheels import Fetcher, load_pins

    pins = load_pins()
    return Fetcher(pins).npm_package(pins.pyodide) / "pyodide-lock.json"


def _wheel_requiring(folder: Path, requires: list[str]) -> Path:
    import zipfile

    wheel = folder / "needs_things-1.0-py3-none-any.whl"
    metadata = "Metadata-Version: 2.1\nName: needs-things\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {line}\n" for line in requires
    )
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("needs_things-1.0.dist-info/METADATA", metadata)
    shutil.copyfile(wheel, folder / "copy.whl")
    return wheel
