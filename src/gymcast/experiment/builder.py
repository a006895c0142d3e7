"""The `Experiment` builder: each call validates its fields at once and returns the experiment."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gymcast.contracts import MAX_BASE_SEED, MAX_EPISODES, scene_game_key
from gymcast.experiment.assets import check_assets
from gymcast.experiment.checks import check_choice, check_int, check_json
from gymcast.experiment.error_ending import ErrorEnding
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.flow import GAME_OVERRIDES, Completion, Game, Scene, validate_flow
from gymcast.experiment.multiplayer import Multiplayer, networked
from gymcast.experiment.players import Human, OnnxPolicy, Player, PythonPolicy, RandomPolicy
from gymcast.experiment.refs import to_ref

INPUT_MODES = ("pressed_keys", "single_keystroke", "turns")
ASSIGNMENTS = ("balanced", "random")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MODULE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class Experiment:
    """A study's config, written as a chain of calls.

    Example:
        experiment = (
            Experiment("cartpole")
            .environment(env_id="CartPole-v1")
            .players({"player": Human(keys={"ArrowLeft": 0, "ArrowRight": 1}, default_action=0)})
            .rendering(fps=30, width=600, height=400, frame_fn="frames:draw_cartpole")
            .gameplay(num_episodes=3, max_steps=500, seed=7)
        )
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ConfigError(
                "Experiment(name)",
                f"{name!r} is not a valid experiment name",
                "use lowercase letters, digits and underscores, starting with a letter, e.g. 'cartpole'",
            )
        self.name = name
        self._env: dict[str, Any] | None = None
        self._players: dict[str, Player] | None = None
        self._rendering: dict[str, Any] = {
            "fps": 30,
            "width": 600,
            "height": 400,
            "frame_fn": None,
            "objects_fn": None,
            "assets": {},
        }
        self._gameplay: dict[str, Any] = {
            "num_episodes": 1,
            "max_steps": None,
            "input_mode": "pressed_keys",
            "seed": None,
        }
        self._hosting: dict[str, Any] = {"host": "127.0.0.1", "port": 5702, "log_url": "", "static_only": False}
        self._logging: dict[str, Any] = {"hash_every": 1, "observations": False}
        self._callbacks: str | None = None
        self._requirements: list[str] = []
        self._keep_modules: list[str] = []
        self._code: tuple[str, ...] = ()
        self._flow: tuple[Scene, ...] = (Game("main"),)
        self._conditions: dict[str, dict[str, Any]] = {}
        self._assignment = "balanced"
        self._allow_repeat = False
        self._controls: dict[str, Any] = {"feedback": False, "pause": False, "restart": False, "fps_range": None}
        self._multiplayer: Multiplayer | None = None
        self._on_error = ErrorEnding()

    def environment(
        self,
        env_id: str | None = None,
        env_creator: str | Callable[..., Any] | None = None,
        env_kwargs: dict[str, Any] | None = None,
    ) -> Experiment:
        """The env: a registered gymnasium id, or a creator function `(**env_kwargs) -> env`."""
        if (env_id is None) == (env_creator is None):
            raise ConfigError(
                "environment",
                "give exactly one of env_id and env_creator",
                'pass env_id="CartPole-v1" or env_creator="envs:make_env"',
            )
        if env_id is not None and (not isinstance(env_id, str) or not env_id):
            raise ConfigError(
                "environment.env_id",
                f"expected a gymnasium id string, got {env_id!r}",
                'pass a registered id such as "CartPole-v1"',
            )
        kwargs = check_json("environment.env_kwargs", dict(env_kwargs or {}))
        creator = to_ref("environment.env_creator", env_creator) if env_creator is not None else None
        self._env = {"id": env_id, "creator": creator, "kwargs": kwargs}
        return self

    def players(self, players: dict[str, Player]) -> Experiment:
        """Who controls each agent, keyed by agent id: Human, OnnxPolicy, PythonPolicy or RandomPolicy."""
        _check_players("players", players)
        self._players = dict(players)
        return self

    def rendering(
        self,
        fps: int = 30,
        width: int = 600,
        height: int = 400,
        frame_fn: str | Callable[..., Any] | None = None,
        objects_fn: str | Callable[..., Any] | None = None,
        assets: dict[str, Any] | None = None,
        click_fn: str | Callable[..., Any] | None = None,
    ) -> Experiment:
        """Display: steps per second, canvas size in CSS pixels, how the env is drawn, and what a click means.

        - `frame_fn(env) -> (H, W, 3) uint8`: pixels, shown as they are.
        - `objects_fn(env) -> [drawable, ...]` (see `gymcast_runtime.draw`): objects drawn by Phaser
          at the display's refresh rate, gliding between steps; `assets` names the images that
          sprites use ({name: file} or {name: {file, frame_width, frame_height}} for a sprite sheet).
        - neither: `env.render()` with `render_mode="rgb_array"`.
        - `click_fn(env, x, y) -> action or None`: a click or tap on the canvas at canvas pixel (x, y)
          becomes the action of the human to move (see `gymcast_runtime.input.grid_click` for boards).
        """
        if frame_fn is not None and objects_fn is not None:
            raise ConfigError(
                "rendering",
                "give at most one of frame_fn and objects_fn",
                "use objects_fn for sprite rendering, or frame_fn for pixel frames",
            )
        if assets and objects_fn is None:
            raise ConfigError(
                "rendering.assets", "assets are only drawn by objects_fn", "pass objects_fn as well, or drop assets"
            )
        self._rendering = {
            "fps": check_int("rendering.fps", fps, 1, 120),
            "width": check_int("rendering.width", width, 16, 4096),
            "height": check_int("rendering.height", height, 16, 4096),
            "frame_fn": to_ref("rendering.frame_fn", frame_fn) if frame_fn is not None else None,
            "objects_fn": to_ref("rendering.objects_fn", objects_fn) if objects_fn is not None else None,
            "assets": check_assets(assets),
        }
        if click_fn is not None:  # only games that use it carry it, so other manifests stay as they were
            self._rendering["click_fn"] = to_ref("rendering.click_fn", click_fn)
        return self

    def gameplay(
        self,
        num_episodes: int = 1,
        max_steps: int | None = None,
        input_mode: str = "pressed_keys",
        seed: int | None = None,
        ai_think_ms: int = 0,
    ) -> Experiment:
        """Episodes per participant, a step cap per episode, how input becomes actions, and the base seed.

        Episode k is reset with seed `seed + k`. With `seed=None`, each session draws a base seed
        and logs it, so every episode can still be replayed.
        `input_mode="turns"`: the env steps only when the player to move acts (a key, a click or a
        tap); AI players move `ai_think_ms` after their turn begins, so a participant can follow.
        Humans need no `default_action` then (`default_action=None`).
        """
        mode = check_choice("gameplay.input_mode", input_mode, INPUT_MODES)
        think = check_int("gameplay.ai_think_ms", ai_think_ms, 0, 60_000)
        if think and mode != "turns":
            raise ConfigError(
                "gameplay.ai_think_ms",
                f"a thinking delay applies only to turn-based play, but input_mode is {mode!r}",
                'pass input_mode="turns", or drop ai_think_ms',
            )
        self._gameplay = {
            "num_episodes": check_int("gameplay.num_episodes", num_episodes, 1, MAX_EPISODES),
            "max_steps": check_int("gameplay.max_steps", max_steps, 1) if max_steps is not None else None,
            "input_mode": mode,
            "seed": check_int("gameplay.seed", seed, 0, MAX_BASE_SEED) if seed is not None else None,
        }
        if mode == "turns":  # only turn-based games carry it, so other manifests stay as they were
            self._gameplay["ai_think_ms"] = think
        return self

    def hosting(
        self, host: str = "127.0.0.1", port: int = 5702, log_url: str = "", static_only: bool = False
    ) -> Experiment:
        """Where `gymcast serve`/`run` listen, and the host URL logs go to ("" = the page's own origin).

        Completion codes are handed out by the host once it stored a participant's completion. With
        `static_only=True` (no gymcast host at all) they ship in manifest.json instead, public.
        """
        if not isinstance(static_only, bool):
            raise ConfigError("hosting.static_only", f"expected True or False, got {static_only!r}", "pass a bool")
        if not isinstance(host, str) or not host:
            raise ConfigError("hosting.host", f"expected an address, got {host!r}", 'pass "127.0.0.1" or "0.0.0.0"')
        if not isinstance(log_url, str) or (log_url and not re.match(r"^https?://", log_url)):
            raise ConfigError(
                "hosting.log_url",
                f"{log_url!r} is not an http(s) URL",
                'pass "" to log to the serving host, or e.g. "https://study.example.org"',
            )
        self._hosting = {
            "host": host,
            "port": check_int("hosting.port", port, 1, 65535),
            "log_url": log_url.rstrip("/"),
            "static_only": static_only,
        }
        return self

    def logging(self, hash_every: int = 1, observations: bool = False) -> Experiment:
        """What each step logs besides actions and rewards.

        `hash_every`: log the observation's hash every N steps (always on an episode's first and
        last step); replay checks each logged hash. `observations=True` also logs every observation
        as JSON, which makes logs much larger; replay can rebuild them instead.
        """
        if not isinstance(observations, bool):
            raise ConfigError("logging.observations", f"expected True or False, got {observations!r}", "pass a bool")
        self._logging = {
            "hash_every": check_int("logging.hash_every", hash_every, 1, 100_000),
            "observations": observations,
        }
        return self

    def flow(self, *scenes: Scene) -> Experiment:
        """The study's scenes in order (from `gymcast.flow`): Page, Consent, Game, Survey, Completion.

        Without a flow, the study is one Game scene named "main".
        """
        validate_flow(scenes, self._conditions)
        self._flow = tuple(scenes)
        return self

    def on_error(self, code: str = "", redirect: str = "", contact: str = "") -> Experiment:
        """What the page shows when the study stops because of an error in it (the env or a callback raised).

        `code`: a partial-completion code (not the completion code), which the host hands out only once it
        stored the session's error; `redirect`: a URL carrying it (e.g. Prolific's); `contact`: one line,
        e.g. "Write to lab@example.org", shown even when the host cannot be reached.
        """
        ending = ErrorEnding(code, redirect, contact)
        ending.validate(self._completion_code())
        self._on_error = ending
        return self

    def _completion_code(self) -> str | None:
        last = self._flow[-1] if self._flow else None
        return last.code if isinstance(last, Completion) else None

    def conditions(self, conditions: dict[str, dict[str, Any]], assignment: str = "balanced") -> Experiment:
        """Between-participant conditions: name -> game settings (num_episodes, max_steps, seed, env_kwargs,
        players) applied to Game scenes with `use_condition=True`.

        `assignment="balanced"` gives each new participant the condition with the fewest completed
        and active participants (the host decides); "random" draws uniformly. Without a host, the
        condition is a fixed hash of the participant id.
        """
        if not isinstance(conditions, dict) or len(conditions) < 2:
            raise ConfigError(
                "conditions", "expected at least two named conditions", 'pass {"easy": {...}, "hard": {...}}'
            )
        for name, settings in conditions.items():
            if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]{0,31}$", name):
                raise ConfigError(
                    "conditions", f"{name!r} is not a valid condition name", "use lowercase names such as 'easy'"
                )
            unknown = sorted(set(settings) - set(GAME_OVERRIDES))
            if unknown:
                raise ConfigError(
                    f"conditions[{name!r}]", f"unknown game settings {unknown}", "set only " + ", ".join(GAME_OVERRIDES)
                )
            if "players" in settings:
                _check_players(f"conditions[{name!r}].players", settings["players"])
        self._conditions = dict(conditions)
        self._assignment = check_choice("conditions.assignment", assignment, ASSIGNMENTS)
        return self

    def participants(self, allow_repeat: bool = False) -> Experiment:
        """Whether a participant id that already completed the study may start it again."""
        if not isinstance(allow_repeat, bool):
            raise ConfigError(
                "participants.allow_repeat", f"expected True or False, got {allow_repeat!r}", "pass a bool"
            )
        self._allow_repeat = allow_repeat
        return self

    def code(self, *folders: str) -> Experiment:
        """More folders of Python modules to ship with the experiment (paths relative to experiment.py's
        folder), e.g. a lab's shared envs: `.code("../shared")`."""
        for index, folder in enumerate(folders):
            if not isinstance(folder, str) or not folder:
                raise ConfigError(f"code[{index}]", f"{folder!r} is not a folder path", 'pass e.g. "../shared"')
        self._code = tuple(folders)
        return self

    @property
    def code_folders(self) -> tuple[str, ...]:
        """The extra code folders, as given."""
        return self._code

    def requirements(self, *specs: str) -> Experiment:
        """Extra packages the env needs in the browser: "pettingzoo==1.25.0", "scipy", "pygame-ce".

        A package of Pyodide's own distribution (scipy, matplotlib, pygame-ce, pillow, ...) ships its official
        build with its dependencies; its version is the distribution's, so it may be left out. Any other
        package must be pure Python and pinned exactly; the official packages it depends on ship with it, other
        dependencies must be listed too, unless gymcast ships them.
        """
        for index, spec in enumerate(specs):
            if not isinstance(spec, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*(==[A-Za-z0-9.!+_-]+)?$", spec):
                raise ConfigError(
                    f"requirements[{index}]",
                    f"{spec!r} is not a package name with an optional exact version",
                    'write each as "name==version", e.g. "pettingzoo==1.25.0", or a Pyodide package\'s name, e.g. "scipy"',
                )
        self._requirements = list(specs)
        return self

    def keep_modules(self, *modules: str) -> Experiment:
        """Modules a slim bundle keeps though the build's trace may not import them, with everything
        they import: e.g. one the game imports only late in a study, which a page would otherwise
        fetch from the full archive then (and log as `pruned_module`). `.keep_modules("email.mime.text")`
        """
        for index, module in enumerate(modules):
            if not isinstance(module, str) or not MODULE_PATTERN.match(module):
                raise ConfigError(
                    f"keep_modules[{index}]",
                    f"{module!r} is not a module name",
                    'write each as an importable dotted name, e.g. "email.mime.text"',
                )
        self._keep_modules = list(modules)
        return self

    def controls(
        self,
        feedback: bool = False,
        pause: bool = False,
        restart: bool = False,
        fps_range: tuple[int, int] | None = None,
    ) -> Experiment:
        """Participant controls under the game (HIPPO Gym's research features), each logged when used.

        `feedback`: "good"/"bad" buttons, logged with the step they refer to and delivered to Python
        policies' `on_feedback`. `pause`: pause/resume. `restart`: restart the current episode
        (same seed, next `attempt`). `fps_range=(low, high)`: the participant may change the frame
        rate within these bounds.
        """
        for name, value in (("feedback", feedback), ("pause", pause), ("restart", restart)):
            if not isinstance(value, bool):
                raise ConfigError(f"controls.{name}", f"expected True or False, got {value!r}", "pass a bool")
        if fps_range is not None:
            if not isinstance(fps_range, (tuple, list)) or len(fps_range) != 2:
                raise ConfigError(
                    "controls.fps_range", f"expected (low, high), got {fps_range!r}", "pass e.g. (10, 60)"
                )
            low = check_int("controls.fps_range[0]", fps_range[0], 1, 120)
            high = check_int("controls.fps_range[1]", fps_range[1], low, 120)
        self._controls = {
            "feedback": feedback,
            "pause": pause,
            "restart": restart,
            "fps_range": [low, high] if fps_range is not None else None,
        }
        return self

    def multiplayer(
        self,
        wait_timeout_s: int = 120,
        on_timeout: str = "end",
        timeout_code: str = "",
        timeout_redirect: str = "",
        grace_s: int = 30,
        on_dropout: str = "default_action",
        fallbacks: dict[str, Player] | None = None,
        hash_every: int = 30,
        input_delay: int | None = None,
    ) -> Experiment:
        """Play over the network: each Human seat is a different person, grouped by arrival by the host.

        Every browser runs the same seeded env in lockstep and only actions cross the network.
        `wait_timeout_s`: how long a participant waits for partners; then `on_timeout` "ai" plays the
        empty seats with `fallbacks`, "end" shows `timeout_code` (and redirects to `timeout_redirect`).
        `grace_s`: how long a disconnected player may take to come back (a reload included) to the
        same game; `on_dropout` says who plays the seat meanwhile and afterwards: "ai" (its fallback),
        "default_action", or "end" (the partners wait for the grace period, then the game ends).
        `hash_every`: the browsers compare state hashes every N steps and repair a mismatch.
        `input_delay`: steps between a key press and its effect; None sizes it from measured round trips.
        Applies to game scenes with at least two Human players.
        """
        settings = Multiplayer(
            wait_timeout_s,
            on_timeout,
            timeout_code,
            timeout_redirect,
            grace_s,
            on_dropout,
            dict(fallbacks or {}),
            hash_every,
            input_delay,
        )
        settings.validate()
        self._multiplayer = settings
        return self

    def callbacks(self, callback: str | type) -> Experiment:
        """A `gymcast_runtime.Callback` subclass whose hooks run in the browser and add `custom` log fields."""
        self._callbacks = to_ref("callbacks", callback)
        return self

    @property
    def host_settings(self) -> dict[str, Any]:
        """The hosting section as given."""
        return dict(self._hosting)

    def validate(self) -> None:
        """Check the experiment is complete and its parts fit together."""
        fps_range = self._controls["fps_range"]
        if fps_range and not fps_range[0] <= self._rendering["fps"] <= fps_range[1]:
            raise ConfigError(
                "controls.fps_range",
                f"rendering.fps {self._rendering['fps']} is outside {tuple(fps_range)}",
                "choose a range that contains the starting frame rate",
            )
        if self._env is None:
            raise ConfigError(
                "environment",
                "no environment is set",
                'call .environment(env_id="CartPole-v1") or .environment(env_creator=...)',
            )
        if self._players is None:
            raise ConfigError("players", "no players are set", 'call .players({"player": Human(keys={...})})')
        if self._gameplay["input_mode"] != "turns":
            _check_default_actions("players", self._players)
            for name, settings in self._conditions.items():
                _check_default_actions(f"conditions[{name!r}].players", settings.get("players") or {})
        if self._multiplayer is not None:
            self._multiplayer.check_seats(self._players)
            no_default = [a for a, p in self._players.items() if isinstance(p, Human) and p.default_action is None]
            if no_default and self._multiplayer.on_dropout == "default_action":
                raise ConfigError(
                    "multiplayer.on_dropout",
                    f"the seats {no_default} have no default action to play when their person leaves",
                    'pass on_dropout="ai" with fallbacks, or on_dropout="end"',
                )
            used = [name for name in ("pause", "restart", "fps_range") if self._controls[name]]
            if used:
                raise ConfigError(
                    f"controls.{used[0]}",
                    "networked games cannot pause, restart or change speed for one player",
                    "turn these controls off when using .multiplayer()",
                )

    def games(self) -> dict[str, dict[str, Any]]:
        """Every game config the flow can run, keyed "scene" or "scene:condition"."""
        base = self.to_manifest()
        games = {}
        for scene in self._flow:
            if not isinstance(scene, Game):
                continue
            variants = self._conditions if scene.use_condition else {"": {}}
            for condition, settings in variants.items():
                key = scene_game_key(scene.name, condition)
                game = _with_settings(_with_settings(base, scene.overrides), settings)
                if not networked(game):
                    game["multiplayer"] = None
                games[key] = game
        return games

    def flow_manifest(self) -> dict[str, Any]:
        """The flow, conditions and participant rules, as the browser reads them."""
        validate_flow(self._flow, self._conditions)
        self._on_error.validate(self._completion_code())
        return {
            "scenes": [self._scene_manifest(scene) for scene in self._flow],
            "on_error": self._on_error.to_manifest(),
            "conditions": sorted(self._conditions),
            "assignment": self._assignment,
            "allow_repeat": self._allow_repeat,
        }

    def _scene_manifest(self, scene: Any) -> dict[str, Any]:
        """A scene as the browser reads it; a game scene names its game config per condition in `game_keys`
        ({"": key} when it does not apply the condition)."""
        entry = scene.to_manifest()
        if isinstance(scene, Game):
            conditions = sorted(self._conditions) if scene.use_condition else [""]
            entry["game_keys"] = {condition: scene_game_key(scene.name, condition) for condition in conditions}
        return entry

    def to_manifest(self) -> dict[str, Any]:
        """The base game config: plain JSON the browser runtime reads (scenes may override parts)."""
        self.validate()
        assert self._players is not None
        return {
            "name": self.name,
            "env": dict(self._env or {}),
            "players": {agent: player.to_manifest() for agent, player in self._players.items()},
            "rendering": dict(self._rendering),
            "gameplay": dict(self._gameplay),
            "logging": dict(self._logging),
            "callbacks": self._callbacks,
            "controls": dict(self._controls),
            "requirements": list(self._requirements),
            "keep_modules": list(self._keep_modules),
            "log_url": self._hosting["log_url"],
            "multiplayer": self._multiplayer.to_manifest() if self._multiplayer else None,
        }


def _check_players(field: str, players: Any) -> None:
    if not isinstance(players, dict) or not players:
        raise ConfigError(
            field,
            "expected a non-empty dict of agent id -> player",
            'pass e.g. {"player": Human(keys={"ArrowLeft": 0}, default_action=0)}',
        )
    for agent, player in players.items():
        if not isinstance(agent, str) or not agent:
            raise ConfigError(field, f"agent id {agent!r} is not a non-empty string", "key players by agent id strings")
        if not isinstance(player, (Human, OnnxPolicy, PythonPolicy, RandomPolicy)):
            raise ConfigError(
                f"{field}[{agent!r}]",
                f"expected a player, got {type(player).__name__}",
                "use Human(keys=...), OnnxPolicy(model=...), PythonPolicy(policy=...) or RandomPolicy()",
            )
        player.validate(f"{field}[{agent!r}]")


def _check_default_actions(field: str, players: dict[str, Player]) -> None:
    """Outside turn-based play every Human needs a default action (the action of a step without input)."""
    for agent, player in players.items():
        if isinstance(player, Human) and player.default_action is None:
            raise ConfigError(
                f"{field}[{agent!r}].default_action",
                "None is allowed only in turn-based play: real-time steps need an action when no key is held",
                'pass the action of "no key", e.g. default_action=0, or use .gameplay(input_mode="turns")',
            )


def _with_settings(game: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of `game` with scene or condition settings applied."""
    import copy

    game = copy.deepcopy(game)
    for key in ("num_episodes", "max_steps", "seed"):
        if key in settings:
            game["gameplay"][key] = settings[key]
    if "env_kwargs" in settings:
        game["env"]["kwargs"] = {**game["env"]["kwargs"], **check_json("env_kwargs", settings["env_kwargs"])}
    if "players" in settings:
        game["players"] = {agent: player.to_manifest() for agent, player in settings["players"].items()}
    return game
