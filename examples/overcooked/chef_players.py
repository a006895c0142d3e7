"""Who cooks: arrow keys to walk (walking into a counter turns you to face it), space to pick up or put
down, and the AI partner cloned from the scripted chef (made by train_partner.py)."""

from __future__ import annotations

from kitchen import DOWN, INTERACT, LEFT, RIGHT, STAY, UP

from gymcast import OnnxPolicy

KEYS = {"ArrowUp": UP, "ArrowDown": DOWN, "ArrowLeft": LEFT, "ArrowRight": RIGHT, " ": INTERACT}
#: a keystroke is one move: a held key does not run the chef across the kitchen
KEY_MODE = "single_keystroke"
PARTNER = OnnxPolicy(model="policies/overcooked_partner.onnx", logits="logits")
DEFAULT = STAY
