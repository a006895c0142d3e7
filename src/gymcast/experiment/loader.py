"""Loads `experiment.py` (or a folder holding one) and finds its `Experiment`."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from gymcast.experiment.builder import Experiment
from gymcast.experiment.errors import ConfigError, traceback_tail
from gymcast.experiment.refs import experiment_module_name

EXPERIMENT_FILE = "experiment.py"


class ExperimentNotFound(FileNotFoundError):
    """The path holds no usable experiment.py."""


@dataclass(frozen=True)
class LoadedExperiment:
    """An experiment, the file that defines it, and the folder whose Python code ships with it."""

    experiment: Experiment
    folder: Path
    file: Path

    def code_folders(self) -> list[Path]:
        """The experiment's folder, then each `.code(...)` folder; ExperimentNotFound for a missing one."""
        folders = [self.folder]
        for index, relative in enumerate(self.experiment.code_folders):
            folder = (self.folder / relative).resolve()
            if not folder.is_dir():
                raise ExperimentNotFound(
                    f"code[{index}]: {folder} is not a folder; give a path relative to {self.folder}"
                )
            folders.append(folder)
        return folders


def load_experiment(path: Path) -> LoadedExperiment:
    """Import `path` (an experiment.py, or a folder containing one) and return its Experiment.

    The folder goes on `sys.path` first, so the experiment's own modules import as they will
    in the browser. The file itself loads as the module its name gives (`experiment`), which ships to
    the browser too, so functions and env classes defined in it can be referenced.
    """
    path = path.resolve()
    file = path / EXPERIMENT_FILE if path.is_dir() else path
    if not file.is_file():
        raise ExperimentNotFound(f"{file} does not exist; pass an experiment.py file or a folder that holds one")
    folder = file.parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    module = _import_file(file)
    found = [value for value in vars(module).values() if isinstance(value, Experiment)]
    if len(found) != 1:
        problem = "defines no Experiment" if not found else f"defines {len(found)} Experiments"
        raise ExperimentNotFound(f'{file} {problem}; define exactly one, e.g. `experiment = Experiment("name")...`')
    found[0].validate()
    loaded = LoadedExperiment(found[0], folder, file)
    for extra in loaded.code_folders()[1:]:
        if str(extra) not in sys.path:
            sys.path.insert(1, str(extra))
    return loaded


def _import_file(file: Path) -> ModuleType:
    """Run `file` as the module `experiment_module_name` gives; a SyntaxError or a raising import is a ConfigError."""
    name = experiment_module_name(file.name)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        raise ConfigError(
            file.name,
            f"line {error.lineno} is not valid Python ({error.msg})",
            f"correct the syntax at {file}:{error.lineno}",
            traceback_tail("".join(traceback.format_exception_only(error))),
        ) from None
    except ConfigError:
        sys.modules.pop(name, None)
        raise  # a builder call named its own field
    except Exception as error:
        sys.modules.pop(name, None)
        raise ConfigError(
            file.name,
            f"running it raised {type(error).__name__}: {error}",
            "fix the error at the end of the traceback below (an import, or code run when the file loads)",
            traceback_tail(error),
        ) from None
    return module
