"""The relay for networked play: a waiting room, then actions, state hashes and snapshots forwarded within groups.

Modules, one job each: `protocol` (the messages, both directions), `rules` (a game's rules from the
manifest), `waiting_room`, `group`, `effects` (what the logic asks the endpoint to do), `state` (where
rooms and groups live, and the in-memory store), `coordinator` (the `Relay`, whose operations run
atomically on the state), `endpoint` (the websocket route and timer). With `--redis`: `redis_state`
(the state in Redis, optimistic transactions), `codec` (groups and rooms as JSON) and `switchboard`
(messages to connections on any host process, heartbeats, a killed process's connections).
"""

from gymcast.relay.coordinator import Relay
from gymcast.relay.endpoint import RelayService, relay_socket
from gymcast.relay.rules import GameRules

__all__ = ["GameRules", "Relay", "RelayService", "relay_socket"]
