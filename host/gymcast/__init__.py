"""gymcast: put a gymnasium environment in front of real people, entirely in their browser."""

from gymcast.experiment import ConfigError, Experiment, Human

__all__ = ["ConfigError", "Experiment", "Human"]
__version__ = "0.1.0"
