"""Custom log fields for the CartPole study: runs in the participant's browser."""

from gymcast_runtime import Callback


class CartPoleNotes(Callback):
    """Logs the cart position every 10 steps and the pole angle at each episode's end."""

    def on_step(self, env, actions, result):
        if result["step"] % 10 == 0:
            return {"cart_x": round(float(env.unwrapped.state[0]), 4)}
        return None

    def on_episode_end(self, env, episode, returns):
        return {"final_angle": round(float(env.unwrapped.state[2]), 4)}
