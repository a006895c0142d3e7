"""Gymnasium's MountainCar, drawn by gymnasium's own renderer: pygame, shipped as Pyodide's pygame-ce build.

No frame function: frames come from `env.render()` in `rgb_array` mode, and the build adds `pygame-ce`
because that renderer imports pygame.
"""

from gymcast import Experiment, Human

experiment = (
    Experiment("mountain_car")
    .environment(env_id="MountainCar-v0")
    .players({"driver": Human(keys={"ArrowLeft": 0, "ArrowRight": 2}, default_action=1)})
    .rendering(fps=30, width=600, height=400)
    .gameplay(num_episodes=2, max_steps=400, input_mode="pressed_keys", seed=3)
    .hosting(host="127.0.0.1", port=5703)
)
