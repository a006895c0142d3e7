"""What the log API accepts. Every field is typed and bounded; anything else is a 4xx."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, with_config
from typing_extensions import TypedDict

from gymcast.contracts import LOG_SCHEMA
from gymcast.ids import SessionId

SCHEMA_VERSION = LOG_SCHEMA


def _current_schema(value: int) -> int:
    if value != LOG_SCHEMA:
        raise ValueError(f"this host speaks log schema {LOG_SCHEMA}, not {value}; reload the page")
    return value


LogSchema = Annotated[int, AfterValidator(_current_schema)]
"""The `schema` field of every log request: the host's `LOG_SCHEMA`."""
MAX_INDEX = 2**53  # the largest integer JSON numbers carry exactly
MAX_EVENTS_PER_BATCH = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024
#: The longest string any logged field may hold, and how deeply custom fields may nest.
MAX_TEXT = 64 * 1024
MAX_DEPTH = 32
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ParamValue = Annotated[str, StringConstraints(max_length=512)]
Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32,64}$")]


def _printable(value: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("holds a control character (such as NUL or a newline); send printable text")
    return value


PrintableText = Annotated[str, AfterValidator(_printable)]
"""Text stored as it is (not inside JSON), so it may not hold control characters: PostgreSQL refuses NUL."""


class SessionCreate(BaseModel):
    """The browser registers a session before it logs anything.

    The host decides the experiment, build, condition and repeat policy from the bundle it serves;
    the fields `experiment`, `build_id`, `conditions`, `assignment` and `allow_repeat` that older
    pages send are accepted and ignored.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)
    schema_version: LogSchema = Field(alias="schema")
    url_params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=32)
    user_agent: PrintableText = Field(default="", max_length=512)
    session_id: SessionId | None = Field(default=None, description="proposed by the browser")
    participant_id: PrintableText = Field(default="", max_length=128)
    resume_secret: Hex | None = Field(default=None, description="kept on the device; proves it owns the session")
    resume_token: str | None = Field(default=None, max_length=128, description="the session's earlier token")
    experiment: str | None = Field(default=None, max_length=64, description="ignored")
    build_id: str | None = Field(default=None, max_length=64, description="ignored")
    conditions: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(default=None, max_length=64)
    assignment: str | None = Field(default=None, max_length=16, description="ignored")
    allow_repeat: bool | None = Field(default=None, description="ignored")


Index = Annotated[int, Field(ge=0, le=MAX_INDEX)]


@with_config(ConfigDict(extra="allow", allow_inf_nan=False, strict=True))
class Event(TypedDict):
    """One participant event. Keys beyond these are kept as sent (callbacks add their own).

    A TypedDict rather than a model: pydantic-core validates a batch straight into the dicts the store
    takes, which costs a third of building and dumping a model per event."""

    seq: Annotated[int, Field(ge=1, le=MAX_INDEX)]
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    t: Annotated[float, Field(ge=0, le=1e14, description="client wall-clock time, ms since the Unix epoch")]
    episode: NotRequired[Index | None]
    step: NotRequired[Index | None]
    actions: NotRequired[dict[str, Any] | None]
    rewards: NotRequired[dict[str, float] | None]
    terminated: NotRequired[bool | None]
    truncated: NotRequired[bool | None]


_SCHEMA_TYPED = frozenset(Event.__annotations__) - {"actions"}
"""The event keys whose values the schema itself types and bounds."""


def _plain_json(event: Event) -> Event:
    """Actions and custom fields may hold any JSON, but not NaN or Infinity (they would break every export),
    nor strings over MAX_TEXT characters, nor nesting deeper than MAX_DEPTH."""
    problem = _json_problem({key: value for key, value in event.items() if key not in _SCHEMA_TYPED})
    if problem:
        raise ValueError(problem)
    return event


def _json_problem(root: Any) -> str | None:
    """What makes the JSON value `root` unfit for the log, or None. Iterative, with the scalar checks inline:
    this runs for every event the host receives."""
    pending = [(root, 0)]
    while pending:
        value, depth = pending.pop()
        if depth >= MAX_DEPTH and value:
            return f"a field nests deeper than {MAX_DEPTH} levels"
        if type(value) is dict:
            for key in value:
                if len(key) > MAX_TEXT:
                    return f"a key is longer than {MAX_TEXT} characters"
            children: Iterable[Any] = value.values()
        else:
            children = value
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                pending.append((child, depth + 1))
            elif kind is float:
                if not math.isfinite(child):
                    return "a field holds NaN or Infinity; log finite numbers or null"
            elif kind is str and len(child) > MAX_TEXT:
                return f"a string is longer than {MAX_TEXT} characters"
    return None


@with_config(ConfigDict(extra="forbid", strict=True))
class EventBatch(TypedDict):
    """A batch of events from one session's outbox."""

    schema: LogSchema
    events: Annotated[
        list[Annotated[Event, AfterValidator(_plain_json)]], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)
    ]


EVENT_BATCH = TypeAdapter(EventBatch)
"""Validates a batch's JSON into plain dicts."""


class CompletionRequest(BaseModel):
    """The page asks for its completion code once its completion event is stored; with `ending` "error", for the
    partial code of a session that ended by an error, once its `error` event is stored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)
    schema_version: LogSchema = Field(alias="schema")
    ending: Literal["completed", "error"] = "completed"
