"""The relay for networked play: a waiting room, then actions, state hashes and snapshots forwarded within groups."""

from gymcast.relay.endpoint import RelayService, relay_socket
from gymcast.relay.rooms import GameRules, Relay

__all__ = ["GameRules", "Relay", "RelayService", "relay_socket"]
