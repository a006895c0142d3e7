"""Slime Volleyball for two people, each in their own browser; only key presses cross the network.

Players take the left and right slime by arrival. If nobody comes within 2 minutes, or a partner
leaves for more than 30 s, the published baseline (ONNX) plays the empty side.
"""

from court import RENDERING
from slime_players import BASELINE, LEFT_KEYS, RIGHT_KEYS

from gymcast import Experiment, Human

experiment = (
    Experiment("slime_volleyball_together")
    .environment(env_creator="slime:make_slime_volleyball", env_kwargs={"max_steps": 3000})
    .players({"left": Human(keys=LEFT_KEYS, default_action=0), "right": Human(keys=RIGHT_KEYS, default_action=0)})
    .rendering(**RENDERING)
    .gameplay(num_episodes=1, max_steps=3000)
    .multiplayer(
        wait_timeout_s=120,
        on_timeout="ai",
        grace_s=30,
        on_dropout="ai",
        fallbacks={"left": BASELINE, "right": BASELINE},
    )
)
