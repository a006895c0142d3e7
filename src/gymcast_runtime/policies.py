"""AI players. ONNX models run outside Python (onnxruntime-web in the browser, onnxruntime natively);
everything around the model runs here, so the browser and native choose actions with the same code."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gymcast_runtime.refs import import_ref


def default_preprocess(observation: Any) -> np.ndarray:
    """The observation as float32 with a leading batch axis of 1 (a PettingZoo dict observation: its "observation")."""
    if isinstance(observation, dict) and "observation" in observation:
        observation = observation["observation"]
    return np.asarray(observation, dtype=np.float32)[None, ...]


def masked(logits: np.ndarray, mask: list[int] | None) -> np.ndarray:
    """`logits` with every illegal action (0 in `mask`) set to -inf; unchanged without a mask."""
    if mask is None:
        return logits
    if len(mask) != logits.size:
        raise ValueError(f"the action mask has {len(mask)} entries but the model gives {logits.size} logits")
    if not any(mask):
        raise ValueError("the action mask allows no action")
    return np.where(np.asarray(mask, dtype=bool), logits, -np.inf)


class OnnxPlayer:
    """An ONNX policy: builds model inputs, then picks the action from the model's outputs.

    Spec keys (from the bundle manifest): `model`, `inputs`/`outputs` (tensor names), `preprocess`
    (ref or None), `action` ("argmax" or "sample"), `logits` (output name), `act_every`,
    `recurrent` (None or {"input", "output", "shape"}), `seed`.
    """

    def __init__(self, agent: str, spec: dict[str, Any]) -> None:
        self.agent = agent
        self.spec = spec
        self.preprocess = import_ref(spec["preprocess"]) if spec.get("preprocess") else default_preprocess
        self.act_every: int = spec.get("act_every", 1)
        self.recurrent: dict[str, Any] | None = spec.get("recurrent")
        self.reset(0)

    def reset(self, episode: int) -> None:
        """Start an episode: fresh recurrent state and an RNG seeded by (seed, episode)."""
        self.rng = np.random.default_rng([self.spec.get("seed", 0), episode])
        self.state = np.zeros(self.recurrent["shape"], dtype=np.float32) if self.recurrent else None
        self.last_action: Any = None
        self.steps = 0

    def request(self, observation: Any) -> dict[str, np.ndarray] | None:
        """Model inputs for this step, or None when the player repeats its last action (`act_every`)."""
        due = self.steps % self.act_every == 0 or self.last_action is None
        self.steps += 1
        if not due:
            return None
        prepared = self.preprocess(observation)
        feeds = dict(prepared) if isinstance(prepared, dict) else {self.spec["inputs"][0]: prepared}
        if self.recurrent:
            feeds[self.recurrent["input"]] = self.state
        return {name: np.asarray(value, dtype=np.float32) for name, value in feeds.items()}

    def choose(self, outputs: dict[str, np.ndarray], mask: list[int] | None = None) -> int:
        """The action from the model's outputs, never one that `mask` forbids (its logit becomes -inf);
        also carries the recurrent state to the next call."""
        logits = np.asarray(outputs[self.spec.get("logits") or self.spec["outputs"][0]], dtype=np.float64).reshape(-1)
        logits = masked(logits, mask)
        if self.recurrent:
            self.state = np.asarray(outputs[self.recurrent["output"]], dtype=np.float32)
        if self.spec.get("action", "argmax") == "sample":
            self.last_action = sample_logits([float(x) for x in logits], float(self.rng.random()))
        else:
            self.last_action = int(np.argmax(logits))
        return self.last_action

    def repeat(self) -> Any:
        """The action chosen last (between `act_every` decisions)."""
        return self.last_action


def sample_logits(logits: list[float], uniform: float) -> int:
    """Sample an index from softmax(logits) with one uniform draw in [0, 1), using only Python floats."""
    top = max(logits)
    weights = [math.exp(x - top) if x != -math.inf else 0.0 for x in logits]
    threshold = uniform * sum(weights)
    running = 0.0
    for index, weight in enumerate(weights):
        running += weight
        if threshold < running:
            return index
    return len(weights) - 1


class PythonPlayer:
    """A policy object of the experiment's own code: `act(observation) -> action`, optionally
    `on_feedback(episode, step, value)` for human feedback and `reset(episode)`.

    When the env gives an action mask and `act` has an `action_mask` parameter, the mask (a 0/1 list
    over the actions) is passed as `act(observation, action_mask=mask)`.
    """

    def __init__(self, agent: str, spec: dict[str, Any]) -> None:
        import inspect

        self.agent = agent
        self.policy = import_ref(spec["policy"])()
        self.takes_mask = "action_mask" in inspect.signature(self.policy.act).parameters

    def reset(self, episode: int) -> None:
        if hasattr(self.policy, "reset"):
            self.policy.reset(episode)

    def act(self, observation: Any, mask: list[int] | None = None) -> Any:
        if self.takes_mask:
            return self.policy.act(observation, action_mask=mask)
        return self.policy.act(observation)

    def feedback(self, episode: int, step: int, value: str) -> bool:
        """Deliver feedback; True when the policy takes it."""
        if not hasattr(self.policy, "on_feedback"):
            return False
        self.policy.on_feedback(episode, step, value)
        return True


class RandomPlayer:
    """Uniformly random actions from the agent's action space, seeded by (seed, episode)."""

    def __init__(self, agent: str, spec: dict[str, Any], space: Any) -> None:
        self.agent, self.seed, self.space = agent, spec.get("seed", 0), space

    def reset(self, episode: int) -> None:
        self.space.seed(self.seed * 100_003 + episode)

    def act(self, observation: Any, mask: list[int] | None = None) -> Any:
        """A uniform action; with `mask`, uniform over the legal ones."""
        if mask is None:
            return self.space.sample()
        return self.space.sample(mask=np.asarray(mask, dtype=np.int8))


def make_ai_player(agent: str, spec: dict[str, Any], space: Any) -> OnnxPlayer | PythonPlayer | RandomPlayer:
    """The player object for a non-human player spec."""
    kind = spec["type"]
    if kind == "onnx":
        return OnnxPlayer(agent, spec)
    if kind == "python":
        return PythonPlayer(agent, spec)
    if kind == "random":
        return RandomPlayer(agent, spec, space)
    raise ValueError(f"unknown player type {kind!r} for agent {agent!r}")
