"""The researcher-facing experiment config: a validated chained builder."""

from gymcast.experiment.builder import Experiment
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.players import Human

__all__ = ["ConfigError", "Experiment", "Human"]
