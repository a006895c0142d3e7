"""The scenes of a study: `from gymcast.flow import Consent, Page, Game, Survey, Question, Completion`."""

from gymcast.experiment.flow import Completion, Consent, Game, Page, Question, Survey

__all__ = ["Completion", "Consent", "Game", "Page", "Question", "Survey"]
