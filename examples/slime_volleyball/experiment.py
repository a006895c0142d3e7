"""Slime Volleyball, a person against the published slimevolleygym baseline (an ONNX policy in the browser).

The participant is the blue slime on the right (← → to run, ↑ to jump, and both together);
the yellow slime on the left is the baseline. The first to lose 5 points loses the game.
"""

from court import RENDERING
from slime_players import BASELINE, RIGHT_KEYS

from gymcast import Experiment, Human

experiment = (
    Experiment("slime_volleyball")
    .environment(env_creator="slime:make_slime_volleyball", env_kwargs={"max_steps": 3000})
    .players({"left": BASELINE, "right": Human(keys=RIGHT_KEYS, default_action=0)})
    .rendering(**RENDERING)
    .gameplay(num_episodes=1, max_steps=3000)
)
