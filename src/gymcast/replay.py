"""Deterministic replay: re-run each logged episode from its seed and actions and check every logged hash.

By default replay is exact: it runs in the bundle's own Pyodide and wheels under Node
(`browser_runtime/node/replay.mjs`), all episodes in one process, so every episode the browser
played replays bit for bit, the iteration order of sets of strings included (Pyodide is 32-bit: its string
hashes differ from native CPython's). `native=True` replays in this CPython instead, with the
bundle's experiment code: faster, but a divergence there may come from the platform, and its
message says so. Both run the same comparison, `gymcast_runtime.replay`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from gymcast.manifest import read_manifest
from gymcast.storage import ERROR_EVENT, StoredEvent


@dataclass
class LoggedStep:
    """One logged env step."""

    step: int
    actions: dict[str, Any]
    rewards: dict[str, float]
    terminated: bool
    truncated: bool
    obs_hash: str | None


@dataclass
class LoggedEpisode:
    """One episode as the log recorded it. `run` counts the runs of a session (a reload starts a new one)."""

    session_id: str
    run: int
    game: str
    episode: int
    attempt: int
    seed: int
    start_hash: str | None
    steps: list[LoggedStep] = field(default_factory=list)
    ended: bool = False
    #: the study's code raised in this episode: `{"step": N, "message": its last line, "actions": of step N or None}`
    #: (the page's `error` event)
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The episode as `gymcast_runtime.replay` reads it."""
        return asdict(self)


Status = Literal["match", "diverged", "partial", "incomplete", "error"]


@dataclass
class ReplayResult:
    """How one episode replayed: "match"; "diverged" at `step`; "partial" (every logged step matched, but the
    log ends before the episode did); "error" (every logged step matched, and the game ended by an error at
    `step`); or "incomplete" (a step is missing from the log). `observations` are
    JSON values, the reset's first, when asked for."""

    episode: LoggedEpisode
    status: Status
    step: int | None = None
    detail: str = ""
    observations: list[Any] | None = None


class ReplayError(RuntimeError):
    """Replay could not run (not: an episode diverged)."""


#: Why a native replay may diverge where the browser's did not.
PLATFORM_CAUSE = (
    "replayed natively, so the cause may be the platform: native CPython's string hashes (and so the iteration "
    "order of sets of strings) and its float maths differ from the browser's 32-bit Pyodide. "
    "Replay without --native to run the browser's own Pyodide"
)
#: Why an exact replay's reset may differ: the platform is the browser's own, so not that.
RESET_CAUSE = (
    "the env does not reset the same way from the logged seed: its code or a package differs from the build the "
    "log came from, or it draws randomness that the seed does not control"
)


def logged_episodes(events: Iterable[StoredEvent]) -> list[LoggedEpisode]:
    """Group a session-ordered event stream into episodes: one per (session, run, episode, attempt).

    A run starts at each `run_start` (a reload starts a new run); a restarted episode starts a new
    attempt. Steps, ends and an `error` (the study's code raised) belong to the latest `episode_start` before them.
    """
    episodes: list[LoggedEpisode] = []
    current: dict[str, LoggedEpisode] = {}
    runs: dict[str, int] = {}
    games: dict[str, str] = {}
    for event in events:
        session = event.session_id
        if event.type == "run_start":
            runs[session] = runs.get(session, 0) + 1
            games[session] = event.data.get("game", "main")
            current.pop(session, None)
        elif event.type == "episode_start" and event.episode is not None:
            logged = LoggedEpisode(
                session,
                runs.get(session, 0),
                games.get(session, "main"),
                event.episode,
                event.data.get("attempt", 0),
                event.data["seed"],
                event.data.get("obs_hash"),
            )
            episodes.append(logged)
            current[session] = logged
        elif event.type == "step" and session in current and event.step is not None:
            data = event.data
            current[session].steps.append(
                LoggedStep(
                    event.step,
                    data["actions"],
                    data["rewards"],
                    data["terminated"],
                    data["truncated"],
                    data.get("obs_hash"),
                )
            )
        elif event.type == "episode_end" and session in current:
            current.pop(session).ended = True
        elif event.type == ERROR_EVENT and session in current and event.step is not None:
            data = event.data
            current.pop(session).error = {
                "step": event.step,
                "message": str(data.get("message", "")),
                "actions": data.get("actions"),
            }
    return episodes


def replay_episodes(
    bundle: Path,
    episodes: list[LoggedEpisode],
    native: bool = False,
    keep_observations: bool = False,
    check_policies: bool = False,
) -> list[ReplayResult]:
    """Replay `episodes` exactly, in the bundle's Pyodide under Node (one process for all), or natively.

    `check_policies` (recompute AI actions with native onnxruntime) replays natively.
    """
    if not native and not check_policies:
        return replay_in_pyodide(bundle, episodes, keep_observations)
    with open_bundle(bundle) as bundle_game:
        return [bundle_game.replay(logged, keep_observations, check_policies) for logged in episodes]


def replay_in_pyodide(
    bundle: Path, episodes: list[LoggedEpisode], keep_observations: bool = False
) -> list[ReplayResult]:
    """Replay `episodes` in the bundle's own Pyodide and wheels under Node, as the browser ran them."""
    from gymcast.bundler.slim import SlimError, node_executable

    if not episodes:
        return []
    try:
        node = node_executable()
    except SlimError as error:
        raise ReplayError(f"{error}; or replay with --native") from None
    script = resources.files("gymcast.browser_runtime").joinpath("node/replay.mjs")
    with tempfile.TemporaryDirectory() as tmp:
        request, results = Path(tmp) / "request.json", Path(tmp) / "results.json"
        request.write_text(
            json.dumps({"episodes": [e.to_json() for e in episodes], "keep_observations": keep_observations})
        )
        done = subprocess.run(
            [node, str(script), str(bundle.resolve()), str(request), str(results)], capture_output=True, text=True
        )
        if "No module named 'gymcast_runtime.replay'" in done.stderr:
            raise ReplayError(
                f"{bundle} was built by a gymcast without exact replay; rebuild it from the same experiment, "
                "or replay natively with --native"
            )
        if done.returncode != 0 or not results.is_file():
            raise ReplayError(
                f"replaying in Pyodide under Node failed:\n{done.stderr[-3000:]}\n"
                "Fix the error above, or replay natively with --native"
            )
        answers = json.loads(results.read_text())
    return [_result(logged, answer, RESET_CAUSE) for logged, answer in zip(episodes, answers, strict=True)]


def _result(logged: LoggedEpisode, answer: dict[str, Any], cause: str) -> ReplayResult:
    """A `gymcast_runtime.replay` answer as a ReplayResult; a divergence's detail gets its likely `cause`
    (at the reset only, unless the cause is the platform, which can show at any step)."""
    detail = answer["detail"]
    if answer["status"] == "diverged" and (answer["step"] == 0 or cause == PLATFORM_CAUSE):
        detail = f"{detail}; {cause}"
    return ReplayResult(logged, answer["status"], answer["step"], detail, answer["observations"])


@dataclass
class BundleGame:
    """A bundle's game configs (keyed "scene" or "scene:condition") and build id, with its code importable."""

    games: dict[str, dict[str, Any]]
    build_id: str
    root: Path
    _sessions: dict[str, Any] = field(default_factory=dict)
    _policies: dict[str, Any] = field(default_factory=dict)

    def session(self, key: str) -> Any:
        """The native `GameSession` for game `key` (one per key, reused across episodes)."""
        from gymcast_runtime import GameSession

        if key not in self._sessions:
            self._sessions[key] = GameSession(self.games[key])
        return self._sessions[key]

    def native_policies(self, key: str) -> Any:
        """Game `key`'s ONNX players run by native onnxruntime."""
        from gymcast.native_policies import NativePolicies

        if key not in self._policies:
            self._policies[key] = NativePolicies(self.games[key], lambda spec: self.root / spec["model"])
        return self._policies[key]

    def replay(
        self, logged: LoggedEpisode, keep_observations: bool = False, check_policies: bool = False
    ) -> ReplayResult:
        """Replay `logged` natively in the game it was played in (a divergence names the platform as a possible cause)."""
        from gymcast_runtime.replay import replay_episode

        policies = self.native_policies(logged.game) if check_policies else None
        answer = replay_episode(self.session(logged.game), logged.to_json(), keep_observations, policies)
        return _result(logged, answer, PLATFORM_CAUSE)


@contextmanager
def open_bundle(bundle: Path) -> Iterator[BundleGame]:
    """Make the bundle's experiment code importable (from its own wheel) for the duration of the block."""
    manifest = read_manifest(bundle)
    wheel = manifest.experiment_wheel()
    with tempfile.TemporaryDirectory() as code_dir:
        with zipfile.ZipFile(bundle / wheel) as archive:
            archive.extractall(code_dir)
        sys.path.insert(0, code_dir)
        try:
            yield BundleGame(manifest.games, manifest.build_id, bundle)
        finally:
            sys.path.remove(code_dir)
