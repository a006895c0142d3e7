"""The relay's wire protocol, both directions, defined once.

Browser -> host (`ClientMessage`, validated by `parse_message`; anything else is refused): join (first,
with the session token), visibility, pong, action, hash, snapshot, finished.
Host -> browser (`ServerMessage`, serialized only by `ServerMessage.to_json`): waiting, ping, matched,
timeout, action, seat, snapshot_request, state, end, error.
The `join` message carries the protocol's schema version (`gymcast.contracts.RELAY_SCHEMA`) for the whole
connection, and `waiting` echoes it.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from gymcast.contracts import RELAY_SCHEMA
from gymcast.ids import SessionId

MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # a snapshot of a large env state
MAX_ACTION_BYTES = 4096
MAX_EPISODE = 1_000_000
MAX_STEP = 10_000_000
Agent = Annotated[str, Field(min_length=1, max_length=64)]
Episode = Annotated[int, Field(ge=0, le=MAX_EPISODE)]
Step = Annotated[int, Field(ge=0, le=MAX_STEP)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


class Join(Message):
    """Join the waiting room of a game, or rejoin one's group (same session after a reload)."""

    type: Literal["join"]
    schema_version: int = Field(alias="schema")
    session_id: SessionId
    token: str = Field(min_length=1, max_length=128)
    game: str = Field(min_length=1, max_length=128)
    visible: bool = True

    @field_validator("schema_version")
    @classmethod
    def current_schema(cls, value: int) -> int:
        if value != RELAY_SCHEMA:
            raise ValueError(f"this relay speaks schema {RELAY_SCHEMA}, not {value}; reload the page")
        return value


class Visibility(Message):
    type: Literal["visibility"]
    visible: bool


class Pong(Message):
    type: Literal["pong"]
    t: float = Field(ge=0, le=1e15)


class Action(Message):
    """The action of seat `agent` for step `step` of `episode` (one's own seat, or a seat one stands in for)."""

    type: Literal["action"]
    episode: Episode
    step: Step
    agent: Agent
    action: Any

    @field_validator("action")
    @classmethod
    def small_json(cls, value: Any) -> Any:
        kind = type(value)
        if value is None or kind is bool or (kind is int and abs(value) < 2**63):
            return value  # the usual action, on the relay's hot path: obviously small JSON
        if kind is float and math.isfinite(value):
            return value
        if len(json.dumps(value, allow_nan=False)) > MAX_ACTION_BYTES:
            raise ValueError(f"an action may take at most {MAX_ACTION_BYTES} bytes of JSON")
        return value


class Hash(Message):
    type: Literal["hash"]
    episode: Episode
    step: Step
    hash: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    repairs: int = Field(0, ge=0)  # desync repair states this browser had received when it hashed


class Snapshot(Message):
    """The answer to a snapshot_request: the serialized game state at (episode, step)."""

    type: Literal["snapshot"]
    request_id: int = Field(ge=1)
    episode: Episode
    step: Step
    state: str = Field(max_length=MAX_MESSAGE_BYTES)
    returns: dict[str, float] = Field(max_length=64)
    episode_over: bool = False
    inputs: list[tuple[Episode, Step, Agent, Any]] = Field(
        default_factory=list, max_length=10_000, description="actions the sender holds for later steps"
    )


class Finished(Message):
    """This browser has played every episode of the game."""

    type: Literal["finished"]


ClientMessages = Join | Visibility | Pong | Action | Hash | Snapshot | Finished
"""Every message a browser may send."""
ClientMessage = Annotated[ClientMessages, Field(discriminator="type")]
_parser: TypeAdapter[Any] = TypeAdapter(ClientMessage)
_validate_json = _parser.validator.validate_json  # the adapter's own method adds a Python call per message


class ProtocolError(ValueError):
    """A message the relay refuses; the text names the problem."""


def parse_message(text: str | bytes) -> ClientMessages:
    """One browser message, validated; raises ProtocolError naming the first problem."""
    try:
        return _validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise ProtocolError(f"{where}: {first['msg']}") from None


# -- host -> browser ---------------------------------------------------------------------------------


class ServerMessage(BaseModel):
    """A message the relay sends to a browser. `to_json` is the only way one is serialized."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()
    """Optional fields left out of the JSON (rather than sent as null) when they are None."""

    def to_json(self) -> str:
        if not self.omitted_when_none:  # most messages (every forwarded action): pydantic-core directly
            return self.__pydantic_serializer__.to_json(self, by_alias=True).decode()
        absent = {name for name in self.omitted_when_none if getattr(self, name) is None}
        return self.model_dump_json(by_alias=True, exclude=absent)

    def rate_limited(self) -> bool:
        """Whether a connection's error budget applies to this message (non-fatal errors only)."""
        return False


class Waiting(ServerMessage):
    """In the waiting room for `waited_s` seconds; the first one answers the join."""

    type: Literal["waiting"] = "waiting"
    waited_s: int | float
    schema_version: int = Field(default=RELAY_SCHEMA, serialization_alias="schema")


class Ping(ServerMessage):
    """Answer with a pong carrying `t`: the waiting room measures round trips to size the input delay."""

    type: Literal["ping"] = "ping"
    t: float


class Matched(ServerMessage):
    """Seated in a group (or back in it after a rejoin, with `rejoin` true and no `rtt_ms`)."""

    type: Literal["matched"] = "matched"
    group_id: str
    seat: str
    seats: list[str]
    seed: int
    input_delay: int
    hash_every: int
    rejoin: bool
    controllers: dict[str, str]
    rtt_ms: float | None = None
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"rtt_ms"})


class Timeout(ServerMessage):
    """Nobody to play with in time: play with the fallback (`on_timeout` "ai") or end with `code`."""

    type: Literal["timeout"] = "timeout"
    waited_s: int | float
    on_timeout: str
    code: str
    redirect: str


class ForwardedAction(ServerMessage):
    """A seat's action for step `step` of `episode`."""

    type: Literal["action"] = "action"
    episode: int
    step: int
    agent: str
    action: Any


class SeatNotice(ServerMessage):
    """Who plays seat `agent` now: its person ("human"), a stand-in's fallback ("fallback", decided by
    the seat `proxy`), or nobody ("absent")."""

    type: Literal["seat"] = "seat"
    agent: str
    controller: str
    proxy: str | None
    grace_s: int | float
    abandoned: bool
    last_action: list[int]


class SnapshotRequest(ServerMessage):
    """Send the game state at (episode, step) as a `snapshot` with this `request_id`."""

    type: Literal["snapshot_request"] = "snapshot_request"
    request_id: int
    episode: int
    step: int
    reason: Literal["desync", "rejoin"]


class State(ServerMessage):
    """A group member's game state: a desync repair, or where a rejoining browser continues from."""

    type: Literal["state"] = "state"
    reason: Literal["desync", "rejoin"]
    from_seat: str = Field(serialization_alias="from")
    episode: int
    step: int
    state: str
    returns: dict[str, float]
    episode_over: bool
    inputs: list[list[Any]]


class End(ServerMessage):
    """The group's game is over for this browser (`agent` names its seat when a rejoin is refused)."""

    type: Literal["end"] = "end"
    reason: str
    agent: str | None = None
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"agent"})


class Error(ServerMessage):
    """A refused message; `fatal` ones close the connection."""

    type: Literal["error"] = "error"
    message: str
    fatal: bool | None = None
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"fatal"})

    def rate_limited(self) -> bool:
        return not self.fatal


ServerMessages = (
    Waiting | Ping | Matched | Timeout | ForwardedAction | SeatNotice | SnapshotRequest | State | End | Error
)
"""Every message the relay sends."""
