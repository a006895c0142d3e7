"""Tiny ONNX models built in code for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def linear_model(path: Path, inputs: int, outputs: int, seed: int = 0) -> Path:
    """`logits = obs @ W + b` with obs [N, inputs] and logits [N, outputs]."""
    rng = np.random.default_rng(seed)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["obs", "W", "b"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["N", inputs])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", outputs])],
        [
            numpy_helper.from_array(rng.normal(size=(inputs, outputs)).astype(np.float32), "W"),
            numpy_helper.from_array(np.zeros(outputs, np.float32), "b"),
        ],
    )
    return _save(graph, path)


def swapping_recurrent_model(path: Path) -> Path:
    """logits = h_in; h_out = swap(h_in) + [0, 1]: actions 0, 1, 0, 1, ... only if the state is carried."""
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["h_in"], ["logits"]),
            helper.make_node("MatMul", ["h_in", "swap"], ["swapped"]),
            helper.make_node("Add", ["swapped", "one"], ["h_out"]),
            helper.make_node("ReduceSum", ["obs"], ["unused"], keepdims=0),
        ],
        "recurrent",
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 2]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("unused", TensorProto.FLOAT, []),
        ],
        [
            numpy_helper.from_array(np.array([[0, 1], [1, 0]], np.float32), "swap"),
            numpy_helper.from_array(np.array([[0, 1]], np.float32), "one"),
        ],
    )
    return _save(graph, path)


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path
