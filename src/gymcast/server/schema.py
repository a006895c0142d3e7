"""What the log API accepts. Every field is typed and bounded; anything else is a 4xx."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
MAX_INDEX = 2**53  # the largest integer JSON numbers carry exactly
MAX_EVENTS_PER_BATCH = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024
ShortText = Field(max_length=512)


class SessionCreate(BaseModel):
    """The browser registers a session before it logs anything."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_version: Literal[1] = Field(alias="schema")
    experiment: str = Field(min_length=1, max_length=64)
    build_id: str = Field(min_length=1, max_length=64)
    url_params: dict[str, str] = Field(default_factory=dict, max_length=64)
    user_agent: str = Field(default="", max_length=512)
    session_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$", description="proposed by the browser")
    participant_id: str = Field(default="", max_length=128)
    conditions: list[str] = Field(default_factory=list, max_length=64)
    assignment: Literal["balanced", "random"] = "balanced"
    allow_repeat: bool = True


class Event(BaseModel):
    """One participant event. Fields beyond these are kept as sent (callbacks add their own)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    seq: int = Field(ge=1, le=MAX_INDEX)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    t: float = Field(ge=0, le=1e14, description="client wall-clock time, ms since the Unix epoch")
    episode: int | None = Field(default=None, ge=0, le=MAX_INDEX)
    step: int | None = Field(default=None, ge=0, le=MAX_INDEX)
    actions: dict[str, Any] | None = None
    rewards: dict[str, float] | None = None
    terminated: bool | None = None
    truncated: bool | None = None

    @model_validator(mode="after")
    def extra_fields_are_plain_json(self) -> Event:
        """Custom fields may hold any JSON, but not NaN or Infinity (they would break every export)."""
        try:
            json.dumps(self.model_extra, allow_nan=False)
        except ValueError:
            raise ValueError("a field holds NaN or Infinity; log finite numbers or null") from None
        return self


class EventBatch(BaseModel):
    """A batch of events from one session's outbox."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_version: Literal[1] = Field(alias="schema")
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)
