"""Converts slimevolleygym's published baseline opponent (a 120-weight recurrent net) to ONNX.

The weights come from `slimevolleygym.slimevolley.BaselinePolicy` in the PyPI package
slimevolleygym 0.1.0 (installed by `pip install -e .[test]`). The net reads the first 8
observation numbers and its own 7 previous outputs: `out = tanh(W @ [obs[:8], out_prev] + b)`.
Buttons are `out[:3] > 0.75` (forward, backward, jump). The ONNX model computes those buttons
and scores each of the env's six actions so that argmax picks the one the buttons mean
(forward and backward together cancel, as in the game).

Inputs: `obs` [1, 12], `state` [1, 7]. Outputs: `logits` [1, 6], `state_out` [1, 7].
The script then plays the reference policy and the ONNX model side by side on real game
observations and stops if any action differs.

Run: .venv/bin/python examples/slime_volleyball/convert_baseline.py
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from slime import ACTIONS, SlimeVolleyball  # noqa: E402


def import_reference() -> types.ModuleType:
    """slimevolleygym's game module. It imports cv2 for pixel observations only, so an empty stand-in
    serves during the import and is removed afterwards (other packages probe for the real cv2)."""
    stubbed = "cv2" not in sys.modules
    if stubbed:
        sys.modules["cv2"] = types.ModuleType("cv2")
    try:
        return importlib.import_module("slimevolleygym.slimevolley")
    finally:
        if stubbed:
            del sys.modules["cv2"]


def build_model(weight: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """The recurrent step and the button-to-action scoring as one ONNX graph."""
    table = np.array(ACTIONS, dtype=np.float32)  # [6, 3]
    initializers = [
        numpy_helper.from_array(weight.T.astype(np.float32), "weight_t"),  # [15, 7]
        numpy_helper.from_array(bias.astype(np.float32), "bias"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([3], dtype=np.int64), "three"),
        numpy_helper.from_array(np.array([8], dtype=np.int64), "eight"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([0.75], dtype=np.float32), "threshold"),
        numpy_helper.from_array(np.array([1.0, 1.0, 0.0], dtype=np.float32), "move_mask"),
        numpy_helper.from_array((2 * table.T).astype(np.float32), "score_t"),  # [3, 6]
        numpy_helper.from_array(-(table**2).sum(axis=1).astype(np.float32), "score_bias"),
    ]
    nodes = [
        helper.make_node("Slice", ["obs", "zero", "eight", "one"], ["game_in"]),
        helper.make_node("Concat", ["game_in", "state"], ["net_in"], axis=1),
        helper.make_node("MatMul", ["net_in", "weight_t"], ["pre"]),
        helper.make_node("Add", ["pre", "bias"], ["pre_b"]),
        helper.make_node("Tanh", ["pre_b"], ["state_out"]),
        helper.make_node("Slice", ["state_out", "zero", "three", "one"], ["button_out"]),
        helper.make_node("Greater", ["button_out", "threshold"], ["pressed"]),
        helper.make_node("Cast", ["pressed"], ["buttons"], to=TensorProto.FLOAT),
        # forward and backward held together cancel: subtract forward*backward from both
        helper.make_node("Slice", ["buttons", "zero", "one", "one"], ["forward"]),
        helper.make_node("Slice", ["buttons", "one", "three", "one"], ["rest"]),
        helper.make_node("Slice", ["rest", "zero", "one", "one"], ["backward"]),
        helper.make_node("Mul", ["forward", "backward"], ["both"]),
        helper.make_node("Mul", ["both", "move_mask"], ["cancel"]),
        helper.make_node("Sub", ["buttons", "cancel"], ["effective"]),
        helper.make_node("MatMul", ["effective", "score_t"], ["score"]),
        helper.make_node("Add", ["score", "score_bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "slime_baseline",
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 12]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, 7]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 6]),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 7]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gymcast")
    model.ir_version = 8  # readable by onnxruntime-web 1.30 and older onnxruntime releases
    onnx.checker.check_model(model)
    return model


def check_against_reference(path: Path, policy_class, steps: int = 3000) -> int:
    """Play the reference policy and the ONNX model on the same observations; return how many actions matched."""
    reference = policy_class()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    env = SlimeVolleyball(max_steps=steps)
    observations, _ = env.reset(seed=1)
    state = np.zeros((1, 7), dtype=np.float32)
    rng = np.random.default_rng(0)
    matched = 0
    for step in range(steps):
        buttons = reference.predict(observations["left"].astype(np.float64))
        logits, state = session.run(None, {"obs": observations["left"][None, :], "state": state})
        forward, backward, jump = buttons
        effective = (forward and not backward, backward and not forward, jump)
        chosen = ACTIONS[int(np.argmax(logits))]
        matched += tuple(int(b) for b in effective) == chosen
        observations, _, terminated, truncated, _ = env.step(
            {"left": int(np.argmax(logits)), "right": int(rng.integers(6))}
        )
        if terminated or truncated:
            observations, _ = env.reset(seed=step)
            reference.reset()
            state = np.zeros((1, 7), dtype=np.float32)
    return matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=HERE / "policies" / "slime_baseline.onnx")
    args = parser.parse_args()
    policy_class = import_reference().BaselinePolicy
    published = policy_class()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_model(published.weight, published.bias), args.output)
    steps = 3000
    matched = check_against_reference(args.output, policy_class, steps)
    if matched != steps:
        raise SystemExit(f"only {matched} of {steps} ONNX actions match the reference policy's")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes); {matched} actions match the reference policy")


if __name__ == "__main__":
    main()
