"""Runs a game's ONNX policies with native onnxruntime: build checks, smoke episodes, parity tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gymcast.experiment.errors import ConfigError


class NativePolicies:
    """One onnxruntime session per ONNX player of `game`; `model_path(spec)` locates each model file."""

    def __init__(self, game: dict[str, Any], model_path: Callable[[dict[str, Any]], Path]) -> None:
        import onnxruntime

        self.sessions: dict[str, Any] = {}
        for agent, spec in game["players"].items():
            if spec["type"] != "onnx":
                continue
            path = model_path(spec)
            if not path.is_file():
                raise ConfigError(
                    f"players[{agent!r}].model",
                    f"{path} does not exist",
                    "put the .onnx file in the experiment folder and give its path relative to it",
                )
            try:
                self.sessions[agent] = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            except Exception as error:
                raise ConfigError(
                    f"players[{agent!r}].model",
                    f"onnxruntime cannot load {path}: {error}",
                    "export the model again (opset 13 or newer works in onnxruntime-web)",
                ) from error

    def tensor_names(self, agent: str) -> dict[str, list[str]]:
        """`{"inputs": [...], "outputs": [...]}` of `agent`'s model."""
        session = self.sessions[agent]
        return {"inputs": [i.name for i in session.get_inputs()], "outputs": [o.name for o in session.get_outputs()]}

    def run(self, requests: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
        """Model outputs for `GameSession.policy_requests()`, as `{agent: {output name: array}}`."""
        outputs = {}
        for request in requests:
            session = self.sessions[request["agent"]]
            names = [o.name for o in session.get_outputs()]
            outputs[request["agent"]] = dict(zip(names, session.run(names, request["feeds"])))
        return outputs

    def check_shapes(
        self, requests: list[dict[str, Any]], action_spaces: dict[str, Any], logits: dict[str, str]
    ) -> None:
        """ConfigError naming the policy, tensor, expected and actual shapes for any mismatch."""
        for request in requests:
            agent = request["agent"]
            where = f"players[{agent!r}]"
            session = self.sessions[agent]
            declared = {i.name: i.shape for i in session.get_inputs()}
            for name, array in request["feeds"].items():
                if name not in declared:
                    raise ConfigError(
                        where,
                        f"the model has no input tensor {name!r} (its inputs: {sorted(declared)})",
                        "return inputs named as in the model from preprocess",
                    )
                if not _fits(declared[name], array.shape):
                    raise ConfigError(
                        where,
                        f"input tensor {name!r} expects shape {_shape(declared[name])}, but "
                        f"preprocess gives {list(array.shape)}",
                        "make preprocess return the shape the model expects (batch axis included)",
                    )
            missing = sorted(set(declared) - set(request["feeds"]))
            if missing:
                raise ConfigError(
                    where,
                    f"the model's input tensors {missing} are not fed",
                    "return them from preprocess, or declare them as the recurrent input",
                )
            outputs = self.run([request])[agent]
            name = logits[agent]
            space = action_spaces[agent]
            if name not in outputs:
                raise ConfigError(
                    where,
                    f"the model has no output tensor {name!r} (its outputs: {sorted(outputs)})",
                    "set logits= to the output that holds the action logits",
                )
            actual = list(outputs[name].shape)
            if hasattr(space, "n") and (
                not actual or actual[-1] != int(space.n) or int(np.prod(actual)) != int(space.n)
            ):
                raise ConfigError(
                    where,
                    f"output tensor {name!r} has shape {actual}, but the env's action space "
                    f"{space} needs {int(space.n)} logits, e.g. shape [1, {int(space.n)}]",
                    "export the model with one logit per action",
                )


def _fits(declared: list[Any], actual: tuple[int, ...]) -> bool:
    return len(declared) == len(actual) and all(not isinstance(d, int) or d == a for d, a in zip(declared, actual))


def _shape(declared: list[Any]) -> list[Any]:
    return [d if isinstance(d, int) else "any" for d in declared]
