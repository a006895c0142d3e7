"""CoGrid Overcooked, Cramped Room: a person (blue chef) cooks onion soup with an AI partner (green chef).

Three onions in the pot cook a soup; bring a plate, fill it, and serve it at the striped window.
"""

from chef_players import DEFAULT, KEY_MODE, KEYS, PARTNER
from kitchen_view import RENDERING

from gymcast import Experiment, Human

experiment = (
    Experiment("overcooked")
    .environment(env_creator="kitchen:make_kitchen", env_kwargs={"max_steps": 600})
    .requirements("cogrid==0.3.2", "pettingzoo==1.25.0")
    .players({"blue": Human(keys=KEYS, default_action=DEFAULT), "green": PARTNER})
    .rendering(**RENDERING)
    .gameplay(num_episodes=1, max_steps=600, input_mode=KEY_MODE)
)
