"""A human balances CartPole with the arrow keys."""

from gymcast import Experiment, Human

experiment = (
    Experiment("cartpole")
    .environment(env_id="CartPole-v1")
    .players({"player": Human(keys={"ArrowLeft": 0, "ArrowRight": 1}, default_action=0)})
    .rendering(fps=30, width=600, height=400, frame_fn="frames:draw_cartpole")
    .gameplay(num_episodes=3, max_steps=500, input_mode="pressed_keys", seed=2024)
    .logging(hash_every=1)
    .callbacks("notes:CartPoleNotes")
    .hosting(host="127.0.0.1", port=5702)
)
