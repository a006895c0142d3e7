"""Trains the CartPole AI partner by behaviour cloning and writes it as ONNX.

A scripted balancing controller plays CartPole; a 4-32-2 MLP (numpy, Adam, cross-entropy) learns
to copy its choices on the states it visits, and is exported with `onnx.helper` (input `obs`
[N, 4] float32, output `logits` [N, 2]).

Run: .venv/bin/python examples/cartpole/train_policy.py [-o examples/cartpole/policies/cartpole_mlp.onnx]
Needs only what gymcast installs (gymnasium, numpy, onnx, onnxruntime). Takes a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium
import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 32


def expert(obs: np.ndarray) -> int:
    """A balancing controller: push towards where the pole is falling."""
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0)


def collect(episodes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """States visited by the expert with 20% random actions, labelled with the expert's choice."""
    env = gymnasium.make("CartPole-v1")
    states, labels = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            states.append(obs)
            labels.append(expert(obs))
            action = labels[-1] if rng.random() > 0.2 else int(rng.integers(2))
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    return np.asarray(states, np.float32), np.asarray(labels)


def train(states: np.ndarray, labels: np.ndarray, rng: np.random.Generator, steps: int = 3000) -> list[np.ndarray]:
    """Fit W1 (4x32), b1, W2 (32x2), b2 with Adam on softmax cross-entropy."""
    params = [rng.normal(0, 0.5, (4, HIDDEN)), np.zeros(HIDDEN), rng.normal(0, 0.5, (HIDDEN, 2)), np.zeros(2)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    onehot = np.eye(2)[labels]
    for step in range(1, steps + 1):
        batch = rng.integers(0, len(states), 256)
        x, y = states[batch].astype(np.float64), onehot[batch]
        hidden = np.maximum(x @ params[0] + params[1], 0)
        logits = hidden @ params[2] + params[3]
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        d_logits = (probs - y) / len(batch)
        d_hidden = (d_logits @ params[2].T) * (hidden > 0)
        grads = [x.T @ d_hidden, d_hidden.sum(0), hidden.T @ d_logits, d_logits.sum(0)]
        for param, grad, moment in zip(params, grads, moments):
            moment[0] = 0.9 * moment[0] + 0.1 * grad
            moment[1] = 0.999 * moment[1] + 0.001 * grad**2
            param -= 0.01 * (moment[0] / (1 - 0.9**step)) / (np.sqrt(moment[1] / (1 - 0.999**step)) + 1e-8)
    return [p.astype(np.float32) for p in params]


def to_onnx(params: list[np.ndarray]) -> onnx.ModelProto:
    """Gemm -> Relu -> Gemm, with a dynamic batch axis."""
    names = ["W1", "b1", "W2", "b2"]
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["obs", "W1", "b1"], ["h"]),
            helper.make_node("Relu", ["h"], ["a"]),
            helper.make_node("Gemm", ["a", "W2", "b2"], ["logits"]),
        ],
        "cartpole_mlp",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(p, name) for p, name in zip(params, names)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gymcast-example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def evaluate(path: Path, episodes: int = 10) -> float:
    """Mean episode length of the exported model, run by onnxruntime (500 is the maximum)."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    env = gymnasium.make("CartPole-v1")
    lengths = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        length, done = 0, False
        while not done:
            logits = session.run(["logits"], {"obs": obs[None].astype(np.float32)})[0]
            obs, _, terminated, truncated, _ = env.step(int(np.argmax(logits)))
            length, done = length + 1, terminated or truncated
        lengths.append(length)
    return float(np.mean(lengths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "policies" / "cartpole_mlp.onnx")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    states, labels = collect(60, rng)
    params = train(states, labels, rng)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(params), args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes) from {len(states)} states; "
        f"mean episode length {evaluate(args.out):.0f} of 500"
    )


if __name__ == "__main__":
    main()
