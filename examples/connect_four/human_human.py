"""Connect Four for two people, each in their own browser: turn-based lockstep over the relay.

The first to arrive plays red (moves first). Only the player to move can act; the other page waits
and shows whose turn it is. If nobody comes within 2 minutes, or a partner leaves for more than
30 s, the scripted player takes the empty seat.
"""

from players import SCRIPTED, human
from view import RENDERING

from gymcast import Experiment

experiment = (
    Experiment("connect_four_together")
    .environment(env_creator="board:make_connect_four")
    .requirements("pettingzoo==1.25.0")
    .players({"red": human(), "yellow": human()})
    .rendering(**RENDERING)
    .gameplay(num_episodes=1, input_mode="turns", seed=0)
    .multiplayer(
        wait_timeout_s=120,
        on_timeout="ai",
        grace_s=30,
        on_dropout="ai",
        fallbacks={"red": SCRIPTED, "yellow": SCRIPTED},
    )
)
