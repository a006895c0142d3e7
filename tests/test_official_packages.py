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


def test_an_official_package_the_env_imports_ships_without_being_listed(tmp_path):
    """The env module imports scipy at its top: the build's trace in Pyodide stops at that import, so the build
    adds the distribution's scipy (what it does for pygame-ce, which cannot be fetched here) and traces again."""
    built = with_requirements(tmp_path)()  # no requirement at all
    manifest = json.loads((built.path / "manifest.json").read_text())
    assert {"scipy", "openblas", "numpy"} <= set(manifest["packages"])


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


#: A stand-in for pyodide-build's `pyodide` command: Emscripten cannot be installed on the test machines, so only
#: the toolchain probe and what gymcast does with the command's result are tested with it (never the build itself).
FAKE_PYODIDE = """#!{python}
import pathlib, sys, zipfile
pathlib.Path({log!r}).write_text(" ".join(sys.argv[1:]))
if {fail!r}:
    sys.exit("emcc: command not found (activate the Emscripten SDK)")
outdir = pathlib.Path(sys.argv[sys.argv.index("--outdir") + 1])
with zipfile.ZipFile(outdir / "psutil-6.1.0-cp312-cp312-pyodide_2024_0_wasm32.whl", "w") as wheel:
    wheel.writestr("psutil/__init__.py", "")
"""


class RecordedTasks:
    """A build Progress that keeps the descriptions of its tasks."""

    def __init__(self) -> None:
        self.tasks: list[str] = []

    def stage(self, description: str, index: int, total: int) -> None:
        pass

    def task(self, description: str, total: int | None):
        from gymcast.progress import SILENT

        self.tasks.append(description)
        return SILENT.task(description, total)


def fetch_psutil(tmp_path: Path, monkeypatch, fake: str | None) -> tuple[Path, RecordedTasks]:
    """`Fetcher.requirement("psutil", "6.1.0")` (a compiled package outside Pyodide's distribution) with PATH
    holding a fake `pyodide` command (`fake`: "works" or "fails") or none."""
    import os
    import sys

    from gymcast.wheels import Fetcher, load_pins

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if fake:
        script = bin_dir / "pyodide"
        log = tmp_path / "pyodide-args"
        script.write_text(FAKE_PYODIDE.format(python=sys.executable, log=str(log), fail=fake == "fails"))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]))
    if not fake and shutil.which("pyodide"):
        pytest.skip("a real `pyodide` command is on PATH")
    progress = RecordedTasks()
    wheel = Fetcher(load_pins(), cache_dir=tmp_path / "cache", progress=progress).requirement("psutil", "6.1.0")
    return wheel, progress


def test_without_the_pyodide_build_toolchain_the_error_names_the_command(tmp_path, monkeypatch):
    with pytest.raises(FetchError) as failure:
        fetch_psutil(tmp_path, monkeypatch, fake=None)
    message = str(failure.value)
    assert "psutil==6.1.0 has no pure-Python wheel" in message and "could not build it" not in message
    assert "`pip install pyodide-build && pyodide build --outdir wheelhouse psutil==6.1.0`" in message


def test_the_pyodide_build_command_on_path_builds_the_wheel_that_ships(tmp_path, monkeypatch):
    """Uses a fake `pyodide` command (see FAKE_PYODIDE): the toolchain probe finds it and its wheel is used."""
    wheel, progress = fetch_psutil(tmp_path, monkeypatch, fake="works")
    assert wheel.name == "psutil-6.1.0-cp312-cp312-pyodide_2024_0_wasm32.whl" and wheel.is_file()
    assert (tmp_path / "pyodide-args").read_text().startswith("build --outdir ")
    assert (tmp_path / "pyodide-args").read_text().endswith(" psutil==6.1.0")
    assert any(task.startswith("pyodide build psutil==6.1.0") for task in progress.tasks), progress.tasks


def test_a_failed_pyodide_build_says_why_and_how_to_build_by_hand(tmp_path, monkeypatch):
    """Uses a fake `pyodide` command (see FAKE_PYODIDE) that fails as a missing Emscripten would."""
    with pytest.raises(FetchError) as failure:
        fetch_psutil(tmp_path, monkeypatch, fake="fails")
    message = str(failure.value)
    assert "`pyodide build` could not build it" in message and "emcc: command not found" in message
    assert "Fix: build it for Pyodide with `pip install pyodide-build && pyodide build" in message
