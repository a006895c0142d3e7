"""Connect Four, a person (red, moves first) against a scripted Python player (yellow).

Turn-based: the board waits for the participant's click or tap on a column (or key 1-7); the
computer answers after a short thinking pause. Full columns cannot be played.
"""

from players import SCRIPTED, human
from view import RENDERING

from gymcast import Experiment

experiment = (
    Experiment("connect_four")
    .environment(env_creator="board:make_connect_four")
    .requirements("pettingzoo==1.25.0")
    .players({"red": human(), "yellow": SCRIPTED})
    .rendering(**RENDERING)
    .gameplay(num_episodes=1, input_mode="turns", ai_think_ms=400, seed=0)
)
