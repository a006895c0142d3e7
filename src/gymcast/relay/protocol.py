"""Messages a browser may send to the relay. Each is typed and bounded; anything else is refused.

Browser -> host: join (first, with the session token), visibility, pong, action, hash, snapshot, finished.
Host -> browser: waiting, ping, matched, timeout, action, seat, snapshot_request, state, end, error.
The `join` message carries the protocol's schema version for the whole connection.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

SCHEMA_VERSION = 1
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
    schema_version: Literal[1] = Field(alias="schema")
    session_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    token: str = Field(min_length=1, max_length=128)
    game: str = Field(min_length=1, max_length=128)
    visible: bool = True


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


ClientMessage = Annotated[Join | Visibility | Pong | Action | Hash | Snapshot | Finished, Field(discriminator="type")]
_parser: TypeAdapter[Any] = TypeAdapter(ClientMessage)


class ProtocolError(ValueError):
    """A message the relay refuses; the text names the problem."""


def parse_message(text: str | bytes) -> Join | Visibility | Pong | Action | Hash | Snapshot | Finished:
    """One browser message, validated; raises ProtocolError naming the first problem."""
    try:
        return _parser.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise ProtocolError(f"{where}: {first['msg']}") from None
