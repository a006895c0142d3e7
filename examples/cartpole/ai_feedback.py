"""The ONNX policy plays CartPole while the participant watches and rates it with Good/Bad buttons.

The participant can also pause, restart the episode, and change the speed between 10 and 60 fps.
Every click is logged with the step it refers to.
"""

from gymcast import Experiment, OnnxPolicy

experiment = (
    Experiment("cartpole_ai_feedback")
    .environment(env_id="CartPole-v1")
    .players({"ai": OnnxPolicy(model="policies/cartpole_mlp.onnx", action="sample", seed=1)})
    .rendering(fps=30, width=600, height=400, frame_fn="frames:draw_cartpole")
    .gameplay(num_episodes=2, max_steps=300, seed=5)
    .controls(feedback=True, pause=True, restart=True, fps_range=(10, 60))
)
