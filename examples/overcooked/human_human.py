"""CoGrid Overcooked, Cramped Room, for two people in their own browsers; only key presses cross the network.

The first to arrive is the blue chef, the second the green one. If nobody comes within 2 minutes,
or a partner leaves for more than 30 s, the AI partner cooks in the empty place.
"""

from chef_players import DEFAULT, KEY_MODE, KEYS, PARTNER
from kitchen_view import RENDERING

from gymcast import Experiment, Human

experiment = (
    Experiment("overcooked_together")
    .environment(env_creator="kitchen:make_kitchen", env_kwargs={"max_steps": 600})
    .requirements("cogrid==0.3.2", "pettingzoo==1.25.0")
    .players({"blue": Human(keys=KEYS, default_action=DEFAULT), "green": Human(keys=KEYS, default_action=DEFAULT)})
    .rendering(**RENDERING)
    .gameplay(num_episodes=1, max_steps=600, input_mode=KEY_MODE)
    .multiplayer(
        wait_timeout_s=120, on_timeout="ai", grace_s=30, on_dropout="ai", fallbacks={"blue": PARTNER, "green": PARTNER}
    )
)
