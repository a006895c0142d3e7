"""The researcher-facing experiment config: a validated chained builder."""

from gymcast.experiment.builder import Experiment
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.players import Human, OnnxPolicy, PythonPolicy, RandomPolicy

__all__ = ["ConfigError", "Experiment", "Human", "OnnxPolicy", "PythonPolicy", "RandomPolicy"]
