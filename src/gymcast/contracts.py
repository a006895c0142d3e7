"""Values that Python and the browser must agree on, defined once.

The bundler writes `bundle_contracts()` into every manifest (`manifest["contracts"]`), and the
browser runtime reads them from there instead of repeating them.
"""

from __future__ import annotations

from typing import Final

LOG_SCHEMA: Final = 1
"""Version of the log API's requests and replies (`/api/v1/...`, field `schema`)."""

RELAY_SCHEMA: Final = 1
"""Version of the relay's WebSocket messages (field `schema`)."""

MANIFEST_SCHEMA: Final = 1
"""Version of `manifest.json`'s layout."""

MAX_EPISODES: Final = 10_000
"""Episodes a run may play: episode k resets with seed base + k, so base seeds leave room for them."""

SEED_LIMIT: Final = 2**31 - 1
"""Seeds are integers in [0, SEED_LIMIT]: what every env and numpy accept on 32-bit Pyodide."""

MAX_BASE_SEED: Final = SEED_LIMIT - MAX_EPISODES
"""A run's base seed is at most this, so base + episode stays within SEED_LIMIT."""

LOG_FLUSH_MS: Final = 10_000
"""How often the browser's outbox sends the step events it holds. It also sends when the page is hidden, before
a completion or error code, at once after the few events the live dashboard shows, and when a batch is full. Every
event is in IndexedDB before it is sent, so a longer interval loses nothing. The host's cost is mostly per request
(about 1.5 ms of CPU for gunicorn and Flask alone), so 10 s rather than 0.5 s cut it per participant about 7x
(bench/RESULTS.md)."""

LOG_BATCH_EVENTS: Final = 500
"""The most events the outbox sends in one request (at most the host's `schema.MAX_EVENTS_PER_BATCH`)."""

LOG_BATCH_CHARS: Final = 512 * 1024
"""The most JSON characters of events the outbox sends in one request (a lone larger event is sent alone). At
most 3 bytes a character, so a batch stays under the host's 2 MiB body limit."""


LIVE_EVENTS: Final = ("scene_start", "scene_end", "run_start", "consent", "survey", "completion", "error")
"""Events the researcher's live dashboard shows as they happen (`server/admin/state.py` follows a participant
through them): the browser's outbox sends each as soon as it is written, rather than at the next interval."""


def scene_game_key(scene: str, condition: str | None) -> str:
    """The key of a game config in `manifest["games"]`: the scene's name, plus `:condition` when the
    scene applies the participant's condition."""
    return f"{scene}:{condition}" if condition else scene


def bundle_contracts() -> dict[str, int | list[str]]:
    """The values the browser runtime reads from `manifest["contracts"]`."""
    return {
        "log_schema": LOG_SCHEMA,
        "relay_schema": RELAY_SCHEMA,
        "manifest_schema": MANIFEST_SCHEMA,
        "max_base_seed": MAX_BASE_SEED,
        "log_flush_ms": LOG_FLUSH_MS,
        "log_batch_events": LOG_BATCH_EVENTS,
        "log_batch_chars": LOG_BATCH_CHARS,
        "live_events": list(LIVE_EVENTS),
    }
