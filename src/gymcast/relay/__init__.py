"""The relay for networked play: a waiting room, then actions, state hashes and snapshots forwarded within groups.

Modules, one job each: `protocol` (the messages, both directions), `rules` (a game's rules from the
manifest), `waiting_room`, `group`, `effects` (what the logic asks the endpoint to do), `state` (where
rooms and groups live), `coordinator` (the locked `Relay`), `endpoint` (the websocket route and timer).
"""

from gymcast.relay.coordinator import Relay
from gymcast.relay.endpoint import RelayService, relay_socket
from gymcast.relay.rules import GameRules

__all__ = ["GameRules", "Relay", "RelayService", "relay_socket"]
