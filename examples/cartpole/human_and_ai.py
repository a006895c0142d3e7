"""A human and an ONNX policy play together: each balances its own cart, and the team loses when either falls."""

from gymcast import Experiment, Human, OnnxPolicy

experiment = (
    Experiment("twin_cartpole")
    .environment(env_creator="twin:make_twin_cartpole", env_kwargs={"max_episode_steps": 500})
    .players(
        {
            "human": Human(keys={"ArrowLeft": 0, "ArrowRight": 1}, default_action=0),
            "ai": OnnxPolicy(model="policies/cartpole_mlp.onnx", action="argmax"),
        }
    )
    .rendering(fps=30, width=450, height=600, frame_fn="twin:draw_twins")
    .gameplay(num_episodes=2, max_steps=500, seed=11)
)
