"""Who controls each agent: a human at the keyboard, an ONNX policy, a Python policy, or random actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gymcast.contracts import SEED_LIMIT
from gymcast.experiment.checks import check_choice, check_int, check_json
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.refs import to_ref

#: Named `KeyboardEvent.key` values accepted in key maps; any single character is accepted too.
NAMED_KEYS = frozenset(
    "ArrowLeft ArrowRight ArrowUp ArrowDown Enter Tab Escape Backspace Shift Control Alt Meta "
    "Home End PageUp PageDown Insert Delete".split()
)
_COMMON_MISTAKES = {
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "up": "ArrowUp",
    "down": "ArrowDown",
    "space": "' '",
    "spacebar": "' '",
    "enter": "Enter",
    "esc": "Escape",
    "return": "Enter",
}


@dataclass(frozen=True)
class Human:
    """A participant at the keyboard.

    Args:
        keys: browser key name (`KeyboardEvent.key`, e.g. "ArrowLeft", "a", " ") -> env action. A chord
            of keys held together is joined by "+" ("ArrowLeft+ArrowUp"); the largest held chord wins.
        default_action: the action taken on a step when no mapped key applies; None only in turn-based
            play (`.gameplay(input_mode="turns")`), where the env waits for the person's move instead.
    """

    keys: dict[str, Any] = field(default_factory=dict)
    default_action: Any = 0
    action_buffer: int = 1

    def validate(self, where: str) -> None:
        """Raise ConfigError for an empty key map, unknown key names, or non-JSON actions."""
        if not isinstance(self.keys, dict) or not self.keys:
            raise ConfigError(f"{where}.keys", "the key map is empty", 'map at least one key, e.g. {"ArrowLeft": 0}')
        for key, action in self.keys.items():
            parts = key.split("+") if isinstance(key, str) and len(key) > 1 and "+" in key else [key]
            for part in parts:
                if not isinstance(part, str) or not (len(part) == 1 or part in NAMED_KEYS):
                    hint = _COMMON_MISTAKES.get(str(part).lower())
                    fix = (
                        f"use {hint}" if hint else "use KeyboardEvent.key names such as 'ArrowLeft', 'a' or ' ' (space)"
                    )
                    raise ConfigError(f"{where}.keys", f"{part!r} is not a browser key name", fix)
            check_json(f"{where}.keys[{key!r}]", action)
        check_json(f"{where}.default_action", self.default_action)
        check_int(f"{where}.action_buffer", self.action_buffer, 1, 1000)

    def to_manifest(self) -> dict[str, Any]:
        """The JSON the browser runtime reads."""
        return {
            "type": "human",
            "keys": dict(self.keys),
            "default_action": self.default_action,
            "action_buffer": self.action_buffer,
        }


@dataclass(frozen=True)
class OnnxPolicy:
    """An ONNX model that acts in the participant's browser (onnxruntime-web).

    Args:
        model: path of the .onnx file, relative to the experiment folder.
        preprocess: `"module:function"` mapping the agent's observation to the model input
            (an array for the first input, or {input name: array}); default: float32 with a batch axis.
        action: "argmax" of the logits, or "sample" from their softmax with a seeded RNG.
        logits: the output holding the logits (default: the model's first output).
        act_every: decide every k steps and repeat the last action in between.
        recurrent: {"input": name, "output": name, "shape": [..]} to carry a hidden state between decisions.
        seed: seeds sampling; episode k uses the RNG seeded with (seed, k).
    """

    model: str
    preprocess: Any = None
    action: str = "argmax"
    logits: str | None = None
    act_every: int = 1
    recurrent: dict[str, Any] | None = None
    seed: int = 0

    def validate(self, where: str) -> None:
        """Raise ConfigError for a bad field (the model's tensors are checked at build time)."""
        if not isinstance(self.model, str) or not self.model.endswith(".onnx"):
            raise ConfigError(
                f"{where}.model",
                f"{self.model!r} is not a path to an .onnx file",
                'give the model path relative to the experiment folder, e.g. "policies/cartpole.onnx"',
            )
        check_choice(f"{where}.action", self.action, ("argmax", "sample"))
        check_int(f"{where}.act_every", self.act_every, 1, 1000)
        check_int(f"{where}.seed", self.seed, 0, SEED_LIMIT)
        if self.preprocess is not None:
            to_ref(f"{where}.preprocess", self.preprocess)
        if self.recurrent is not None:
            if not isinstance(self.recurrent, dict) or set(self.recurrent) != {"input", "output", "shape"}:
                raise ConfigError(
                    f"{where}.recurrent",
                    f"expected keys input, output, shape; got {self.recurrent!r}",
                    'pass {"input": "h_in", "output": "h_out", "shape": [1, 64]}',
                )
            check_json(f"{where}.recurrent", self.recurrent)

    def to_manifest(self) -> dict[str, Any]:
        """The JSON the browser runtime reads; the build adds the model's bundle path and tensor names."""
        return {
            "type": "onnx",
            "model": self.model,
            "action": self.action,
            "logits": self.logits,
            "act_every": self.act_every,
            "recurrent": self.recurrent,
            "seed": self.seed,
            "preprocess": to_ref("preprocess", self.preprocess) if self.preprocess is not None else None,
        }


@dataclass(frozen=True)
class PythonPolicy:
    """A policy class of the experiment's own code, run in the browser's Python.

    `policy` references a class taking no arguments, with `act(observation) -> action` and
    optionally `reset(episode)` and `on_feedback(episode, step, value)` (value "good" or "bad").
    With an env that gives action masks, `act(observation, action_mask=None)` receives the mask
    (0/1 per action) when its signature names `action_mask`; an illegal move stops the game.
    """

    policy: Any

    def validate(self, where: str) -> None:
        to_ref(f"{where}.policy", self.policy)

    def to_manifest(self) -> dict[str, Any]:
        return {"type": "python", "policy": to_ref("policy", self.policy)}


@dataclass(frozen=True)
class RandomPolicy:
    """Uniformly random actions from the agent's action space; episode k is seeded from (seed, k)."""

    seed: int = 0

    def validate(self, where: str) -> None:
        check_int(f"{where}.seed", self.seed, 0, SEED_LIMIT)

    def to_manifest(self) -> dict[str, Any]:
        return {"type": "random", "seed": self.seed}


Player = Human | OnnxPolicy | PythonPolicy | RandomPolicy
