"""gymcast: put a gymnasium environment in front of real people, entirely in their browser."""

from gymcast.experiment import ConfigError, Experiment, Human, OnnxPolicy, PythonPolicy, RandomPolicy

__all__ = ["ConfigError", "Experiment", "Human", "OnnxPolicy", "PythonPolicy", "RandomPolicy"]
__version__ = "0.1.0"
