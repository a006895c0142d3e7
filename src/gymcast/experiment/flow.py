"""The scenes of a study, run in order: pages, consent, games, surveys, and the completion page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gymcast.experiment.checks import check_int, check_json
from gymcast.experiment.errors import ConfigError

SCENE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
QUESTION_KINDS = ("text", "number", "choice", "multi", "likert")
GAME_OVERRIDES = ("num_episodes", "max_steps", "seed", "env_kwargs", "players")


def _check_name(where: str, name: str) -> None:
    if not isinstance(name, str) or not SCENE_NAME.match(name):
        raise ConfigError(
            where, f"{name!r} is not a valid name", "use lowercase letters, digits and underscores, e.g. 'practice'"
        )


@dataclass(frozen=True)
class Page:
    """An HTML page (a file in the experiment folder) with a Continue button."""

    name: str
    html: str

    def to_manifest(self) -> dict[str, Any]:
        return {"kind": "page", "name": self.name, "html": self.html}


@dataclass(frozen=True)
class Consent:
    """An HTML consent page; Continue is enabled only once the participant ticks `checkbox`."""

    html: str
    checkbox: str = "I have read the information above and agree to take part."
    name: str = "consent"

    def to_manifest(self) -> dict[str, Any]:
        return {"kind": "consent", "name": self.name, "html": self.html, "checkbox": self.checkbox}


@dataclass(frozen=True)
class Game:
    """A game scene: the experiment's env and players, with per-scene overrides.

    Args:
        name: the scene name, logged with every event of the scene.
        use_condition: apply the participant's condition (see `Experiment.conditions`).
        overrides: any of num_episodes, max_steps, seed, env_kwargs, players.
    """

    name: str
    use_condition: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    def __init__(self, name: str, use_condition: bool = False, **overrides: Any) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "use_condition", use_condition)
        object.__setattr__(self, "overrides", overrides)

    def to_manifest(self) -> dict[str, Any]:
        return {"kind": "game", "name": self.name, "use_condition": self.use_condition}


@dataclass(frozen=True)
class Question:
    """One survey question. `kind`: text, number, choice (one of `options`), multi (any of
    `options`), or likert (`points` from `labels[0]` to `labels[1]`)."""

    id: str
    prompt: str
    kind: str = "text"
    options: tuple[str, ...] = ()
    required: bool = True
    points: int = 5
    labels: tuple[str, str] = ("Strongly disagree", "Strongly agree")
    minimum: float | None = None
    maximum: float | None = None

    def validate(self, where: str) -> None:
        _check_name(f"{where}.id", self.id)
        if self.kind not in QUESTION_KINDS:
            raise ConfigError(f"{where}.kind", f"unknown kind {self.kind!r}", "use one of " + ", ".join(QUESTION_KINDS))
        if self.kind in ("choice", "multi") and len(self.options) < 2:
            raise ConfigError(
                f"{where}.options", f"a {self.kind} question needs at least two options", 'pass options=("yes", "no")'
            )
        if self.kind == "likert":
            check_int(f"{where}.points", self.points, 2, 11)

    def to_manifest(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "kind": self.kind,
            "options": list(self.options),
            "required": self.required,
            "points": self.points,
            "labels": list(self.labels),
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


@dataclass(frozen=True)
class Survey:
    """Questions on one page; answers are logged as one `survey` event."""

    name: str
    questions: tuple[Question, ...]

    def to_manifest(self) -> dict[str, Any]:
        return {"kind": "survey", "name": self.name, "questions": [q.to_manifest() for q in self.questions]}


@dataclass(frozen=True)
class Completion:
    """The last page: shows the completion `code`, then optionally sends the participant to `redirect`
    (e.g. a Prolific completion link) after `redirect_after_s` seconds."""

    code: str
    redirect: str | None = None
    redirect_after_s: float = 3.0
    name: str = "completion"

    def to_manifest(self) -> dict[str, Any]:
        return {
            "kind": "completion",
            "name": self.name,
            "code": self.code,
            "redirect": self.redirect,
            "redirect_after_s": self.redirect_after_s,
        }


Scene = Page | Consent | Game | Survey | Completion


def validate_flow(scenes: tuple[Scene, ...], conditions: dict[str, dict[str, Any]]) -> None:
    """ConfigError for a flow whose scenes are mistyped, misnamed, repeated or out of place."""
    names = set()
    for index, scene in enumerate(scenes):
        where = f"flow[{index}]"
        if not isinstance(scene, (Page, Consent, Game, Survey, Completion)):
            raise ConfigError(
                where,
                f"expected a scene, got {type(scene).__name__}",
                "use Page, Consent, Game, Survey or Completion from gymcast.flow",
            )
        _check_name(f"{where}.name", scene.name)
        if scene.name in names:
            raise ConfigError(
                f"{where}.name", f"the scene name {scene.name!r} is used twice", "give each scene its own name"
            )
        names.add(scene.name)
        if isinstance(scene, Completion) and index != len(scenes) - 1:
            raise ConfigError(where, "Completion must be the last scene", "move Completion to the end of the flow")
        if isinstance(scene, Completion) and scene.redirect and not re.match(r"^https?://", scene.redirect):
            raise ConfigError(
                f"{where}.redirect", f"{scene.redirect!r} is not an http(s) URL", "pass the full completion URL"
            )
        if isinstance(scene, Game):
            unknown = sorted(set(scene.overrides) - set(GAME_OVERRIDES))
            if unknown:
                raise ConfigError(
                    f"{where}", f"unknown game settings {unknown}", "override only " + ", ".join(GAME_OVERRIDES)
                )
            if scene.use_condition and not conditions:
                raise ConfigError(
                    f"{where}.use_condition", "no conditions are defined", "call .conditions({...}) first"
                )
        if isinstance(scene, Survey):
            ids = [q.id for q in scene.questions]
            if not ids or len(set(ids)) != len(ids):
                raise ConfigError(
                    f"{where}.questions", "a survey needs questions with distinct ids", "give each Question its own id"
                )
            for number, question in enumerate(scene.questions):
                question.validate(f"{where}.questions[{number}]")
    if not any(isinstance(scene, Game) for scene in scenes):
        raise ConfigError("flow", "the flow has no Game scene", 'add Game("main")')
    check_json("flow", [scene.to_manifest() for scene in scenes])
