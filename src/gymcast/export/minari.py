"""Minari datasets: one episode per fully logged episode, observations rebuilt by exact replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gymcast.replay import logged_episodes, open_bundle, replay_episodes
from gymcast.storage import EventStore


class ExportError(RuntimeError):
    """The log cannot become the requested dataset."""


def export_minari(store: EventStore, bundle: Path, dataset_id: str, session_id: str | None = None) -> int:
    """Create Minari dataset `dataset_id` (in `$MINARI_DATASETS_PATH`) from the log; returns its episode count.

    Observations are rebuilt by replay in the bundle's own Pyodide (see `gymcast.replay`). Episodes that
    were not logged to their end are left out. An episode whose replay does not reproduce the logged
    hashes stops the export: its observations would be wrong.
    """
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers: list[EpisodeBuffer] = []
    with open_bundle(bundle) as bundle_game:
        if any(len(game["players"]) != 1 for game in bundle_game.games.values()):
            raise ExportError("Minari export supports single-agent experiments only")
        episodes = logged_episodes(store.iter_events(session_id))
        for result in replay_episodes(bundle, episodes, keep_observations=True):
            logged = result.episode
            if result.status in ("incomplete", "partial", "error"):
                continue
            if result.status == "diverged":
                raise ExportError(
                    f"session {logged.session_id} episode {logged.episode} diverges from its log at step "
                    f"{result.step} ({result.detail}); check it with `gymcast replay`"
                )
            session = bundle_game.session(logged.game)
            agent = session.agents[0]
            steps = sorted(logged.steps, key=lambda s: s.step)
            buffers.append(
                EpisodeBuffer(
                    id=len(buffers),
                    seed=logged.seed,
                    observations=_in_space(result.observations or [], session.env.observation_space),
                    actions=np.asarray([s.actions[agent] for s in steps]),
                    rewards=[s.rewards[agent] for s in steps],
                    terminations=[s.terminated for s in steps],
                    truncations=[s.truncated for s in steps],
                    infos={},
                )
            )
        if not buffers:
            raise ExportError("no complete episode was logged; nothing to export")
        minari.create_dataset_from_buffers(
            dataset_id=dataset_id,
            buffer=buffers,
            env=session.env.spec,
            action_space=session.env.action_space,
            observation_space=session.env.observation_space,
            algorithm_name="human participants (gymcast)",
            author="gymcast export",
            author_email="unknown@example.org",
            code_permalink="https://pypi.org/project/gymcast/",
            description=f"Episodes played in the browser with gymcast, experiment {session.config['name']}",
            data_format="arrow",
        )
    return len(buffers)


def _in_space(observations: list[Any], space: Any) -> np.ndarray:
    """Replayed observations (JSON values) as one array of the observation space's dtype."""
    dtype = getattr(space, "dtype", None)
    return np.asarray(observations, dtype=dtype) if dtype is not None else np.asarray(observations)
