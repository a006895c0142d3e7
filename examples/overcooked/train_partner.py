"""Trains the Overcooked AI partner by behaviour cloning the scripted chef, and writes it as ONNX.

Two scripted chefs cook in Cramped Room (with a few random actions for variety); an MLP learns
to choose the scripted chef's action from cogrid's observation (892 numbers per chef). Two DAgger
rounds then let the MLP play and label the states it reaches. The model plays either chef.

Output: policies/overcooked_partner.onnx, input `obs` [N, 892] float32, output `logits` [N, 7].
Run: .venv/bin/python examples/overcooked/train_partner.py   (about a minute; prints soups per episode)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from kitchen import AGENTS, Kitchen, read_kitchen  # noqa: E402
from scripted_chef import choose  # noqa: E402

HIDDEN = 128
EPISODE_STEPS = 400


def play(episodes: int, student=None, epsilon: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Episodes with the scripted chef's labels for every chef's observation; `student` (if given) acts for green."""
    rng = np.random.default_rng(seed)
    observations, labels, soups = [], [], []
    env = Kitchen(max_steps=EPISODE_STEPS)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode)
        for _ in range(EPISODE_STEPS):
            view = read_kitchen(env)
            actions = {}
            for agent in AGENTS:
                teacher = choose(view, agent)
                observations.append(obs[agent])
                labels.append(teacher)
                actions[agent] = teacher
                if rng.random() < epsilon:
                    actions[agent] = int(rng.integers(7))
            if student is not None:
                actions["green"] = int(np.argmax(student(obs["green"][None, :])))
            obs, _, terminated, truncated, _ = env.step(actions)
            if all(truncated.values()) or all(terminated.values()):
                break
        soups.append(env.soups_delivered)
    return np.asarray(observations, dtype=np.float32), np.asarray(labels), soups


class Mlp:
    """obs -> 128 -> 128 -> 7 with ReLU, trained by Adam on cross-entropy."""

    def __init__(self, inputs: int, rng: np.random.Generator) -> None:
        sizes = [inputs, HIDDEN, HIDDEN, 7]
        self.params = []
        for a, b in zip(sizes, sizes[1:]):
            self.params += [rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32)]
        self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in self.params]
        self.t = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)[-1]

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        activations = [x]
        for i in range(0, len(self.params), 2):
            z = activations[-1] @ self.params[i] + self.params[i + 1]
            activations.append(np.maximum(z, 0) if i < len(self.params) - 2 else z)
        return activations

    def train(self, x: np.ndarray, y: np.ndarray, epochs: int, rng: np.random.Generator, lr: float = 1e-3) -> float:
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), 256):
                batch = order[start : start + 256]
                self._step(x[batch], y[batch], lr)
        return float((np.argmax(self(x), axis=1) == y).mean())

    def _step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        activations = self._forward(x)
        logits = activations[-1]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        grad = probs
        grad[np.arange(len(y)), y] -= 1
        grad /= len(y)
        grads = [None] * len(self.params)
        for i in range(len(self.params) - 2, -1, -2):
            grads[i] = activations[i // 2].T @ grad
            grads[i + 1] = grad.sum(axis=0)
            if i > 0:
                grad = (grad @ self.params[i].T) * (activations[i // 2] > 0)
        self.t += 1
        for p, g, (m, v) in zip(self.params, grads, self.moments):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= lr * (m / (1 - 0.9**self.t)) / (np.sqrt(v / (1 - 0.999**self.t)) + 1e-8)


def export(model: Mlp, path: Path) -> None:
    names = ["w1", "b1", "w2", "b2", "w3", "b3"]
    nodes = [
        helper.make_node("Gemm", ["obs", "w1", "b1"], ["h1_pre"]),
        helper.make_node("Relu", ["h1_pre"], ["h1"]),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["h2_pre"]),
        helper.make_node("Relu", ["h2_pre"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["logits"]),
    ]
    inputs = model.params[0].shape[0]
    graph = helper.make_graph(
        nodes,
        "overcooked_partner",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["N", inputs])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])],
        [numpy_helper.from_array(p, name) for p, name in zip(model.params, names)],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gymcast")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=HERE / "policies" / "overcooked_partner.onnx")
    parser.add_argument("--episodes", type=int, default=12)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, y, teacher_soups = play(args.episodes)
    print(
        f"scripted pair: {np.mean(teacher_soups):.1f} soups per {EPISODE_STEPS}-step episode; {len(x)} labelled states"
    )
    model = Mlp(x.shape[1], rng)
    accuracy = model.train(x, y, epochs=8, rng=rng)
    for round_number in range(1, 3):
        more_x, more_y, soups = play(args.episodes // 2, student=model, epsilon=0.0, seed=round_number)
        x, y = np.concatenate([x, more_x]), np.concatenate([y, more_y])
        accuracy = model.train(x, y, epochs=6, rng=rng)
        print(
            f"DAgger round {round_number}: the partner with a scripted chef made {np.mean(soups):.1f} soups; "
            f"training accuracy {accuracy:.3f}"
        )
    _, _, soups = play(4, student=model, epsilon=0.0, seed=99)
    print(f"evaluation: {np.mean(soups):.1f} soups per episode with a scripted chef")
    export(model, args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
