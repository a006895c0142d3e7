"""Two people play together over the network: each balances their own cart, and the team loses when either falls.

Each browser runs the same seeded env; only key presses cross the network (`gymcast serve` relays them).
"""

from gymcast import Experiment, Human, OnnxPolicy

KEYS = {"ArrowLeft": 0, "ArrowRight": 1}

experiment = (
    Experiment("twin_cartpole_together")
    .environment(
        env_creator="twin:make_twin_cartpole", env_kwargs={"max_episode_steps": 300, "agents": ["top", "bottom"]}
    )
    .players({"top": Human(keys=KEYS, default_action=0), "bottom": Human(keys=KEYS, default_action=0)})
    .rendering(fps=30, width=450, height=600, frame_fn="twin:draw_twins")
    .gameplay(num_episodes=2, max_steps=300)
    .multiplayer(
        wait_timeout_s=120,
        on_timeout="ai",
        grace_s=30,
        on_dropout="ai",
        fallbacks={agent: OnnxPolicy(model="policies/cartpole_mlp.onnx") for agent in ("top", "bottom")},
    )
)
