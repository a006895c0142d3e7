"""Who plays Slime Volleyball: arrow keys for each side, and the published baseline as an ONNX policy.

"Forward" is towards the net: ← for the right player, → for the left one.
"""

from __future__ import annotations

from gymcast import OnnxPolicy

# action indices of slime.ACTIONS: 0 stay, 1 forward, 2 forward+jump, 3 jump, 4 back+jump, 5 back
RIGHT_KEYS = {"ArrowLeft": 1, "ArrowRight": 5, "ArrowUp": 3, "ArrowLeft+ArrowUp": 2, "ArrowRight+ArrowUp": 4}
LEFT_KEYS = {"ArrowRight": 1, "ArrowLeft": 5, "ArrowUp": 3, "ArrowRight+ArrowUp": 2, "ArrowLeft+ArrowUp": 4}

#: slimevolleygym's baseline opponent (made by convert_baseline.py); it carries 7 numbers between steps.
BASELINE = OnnxPolicy(
    model="policies/slime_baseline.onnx",
    logits="logits",
    recurrent={"input": "state", "output": "state_out", "shape": [1, 7]},
)
