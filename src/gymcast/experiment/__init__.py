"""The researcher-facing experiment config: a validated chained builder."""

from gymcast.experiment.builder import Experiment
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.flow import Completion, Consent, Game, Page, Question, Survey
from gymcast.experiment.players import Human, OnnxPolicy, PythonPolicy, RandomPolicy

__all__ = [
    "Completion",
    "ConfigError",
    "Consent",
    "Experiment",
    "Game",
    "Human",
    "OnnxPolicy",
    "Page",
    "PythonPolicy",
    "Question",
    "RandomPolicy",
    "Survey",
]
