"""Deterministic replay: re-run each logged episode from its seed and actions and check every logged hash.

Replay runs natively in CPython, using the bundle's own experiment code and the same
`gymcast_runtime` and gymnasium version as the browser. An env whose float results differ between
Pyodide (Emscripten's libm, numpy 2.0.2) and native (glibc, the installed numpy) reports a
divergence at the first differing hash: a mismatch is never silently accepted.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gymcast.manifest import read_manifest
from gymcast.storage import StoredEvent


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


@dataclass
class ReplayResult:
    """How one episode replayed: "match", "diverged" at `step`, or "incomplete" (steps missing from the log)."""

    episode: LoggedEpisode
    status: Literal["match", "diverged", "incomplete"]
    step: int | None = None
    detail: str = ""
    observations: list[Any] | None = None


def logged_episodes(events: Iterable[StoredEvent]) -> list[LoggedEpisode]:
    """Group a session-ordered event stream into episodes: one per (session, run, episode, attempt).

    A run starts at each `run_start` (a reload starts a new run); a restarted episode starts a new
    attempt. Steps and ends belong to the latest `episode_start` before them.
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
    return episodes


def replay_episode(
    session: Any, logged: LoggedEpisode, keep_observations: bool = False, policies: Any = None
) -> ReplayResult:
    """Re-run `logged` in `session` (a `GameSession`) and compare every logged hash, reward and flag.

    With `policies` (a `NativePolicies`), AI players choose their actions again natively instead of
    taking them from the log, and each must equal the logged action (browser/native parity).
    """
    observations: list[Any] | None = [] if keep_observations else None
    reset = session.reset(logged.seed, logged.episode)
    if logged.start_hash is not None and reset["obs_hash"] != logged.start_hash:
        return ReplayResult(logged, "diverged", 0, "the reset observation differs (seed or env version?)")
    if observations is not None:
        observations.append(_copy(session.observation))
    for expected, logged_step in enumerate(sorted(logged.steps, key=lambda s: s.step), start=1):
        if logged_step.step != expected:
            return ReplayResult(
                logged, "incomplete", expected, f"step {expected} is missing from the log", observations
            )
        if policies is None:
            result = session.step(logged_step.actions)
        else:
            humans = {a: v for a, v in logged_step.actions.items() if a not in session.ai}
            result = session.step(humans, policies.run(session.policy_requests()))
            if result["actions"] != logged_step.actions:
                return ReplayResult(
                    logged,
                    "diverged",
                    logged_step.step,
                    f"native AI actions {result['actions']} != logged {logged_step.actions}",
                    observations,
                )
        if observations is not None:
            observations.append(_copy(session.observation))
        problem = _difference(result, logged_step)
        if problem:
            return ReplayResult(logged, "diverged", logged_step.step, problem, observations)
    if not logged.ended:
        return ReplayResult(
            logged, "incomplete", None, "no episode_end was logged (the participant left?)", observations
        )
    return ReplayResult(logged, "match", None, "", observations)


def _difference(result: dict[str, Any], logged: LoggedStep) -> str:
    if logged.obs_hash is not None and result.get("obs_hash") != logged.obs_hash:
        return f"observation hash {result.get('obs_hash')} != logged {logged.obs_hash}"
    if result["rewards"] != logged.rewards:
        return f"rewards {result['rewards']} != logged {logged.rewards}"
    if (result["terminated"], result["truncated"]) != (logged.terminated, logged.truncated):
        return (
            f"terminated/truncated {result['terminated']}/{result['truncated']} != "
            f"logged {logged.terminated}/{logged.truncated}"
        )
    return ""


def _copy(observation: Any) -> Any:
    import copy

    return copy.deepcopy(observation)


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
        """`replay_episode` in the game the episode was played in."""
        policies = self.native_policies(logged.game) if check_policies else None
        return replay_episode(self.session(logged.game), logged, keep_observations, policies)


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
